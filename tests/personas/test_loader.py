"""Loading persona files: the shipped library, and every way a file can be wrong."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from personas import EspeakVoice, PersonaFileError, PersonaLibrary, PiperVoice, load_library

VALID = """
id = "sample"
name = "Sample"
description = "A persona used by the tests."
version = "1.0.0"
tags = ["test"]
adaptation_mode = "static"
created_at = 2025-01-01T00:00:00Z
updated_at = 2025-02-01T00:00:00Z

[voice_config]
engine = "piper"
voice = "en_US-joe-medium"
speed = 1.0

[behavior_config]
greeting = "Hello."
system_prompt = "You are a test persona."

[behavior_config.style]
tone = "plain"
verbosity = "brief"
formality = "neutral"
max_sentences = 2

[behavior_config.llm]
max_tokens = 100

[behavior_config.offline_script]
fallbacks = ["I'm in offline mode."]

[[behavior_config.offline_script.rules]]
keywords = ["hello"]
reply = "Hi."
"""


def write(directory: Path, text: str, stem: str = "sample") -> Path:
    path = directory / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_library_has_the_required_personas() -> None:
    library = load_library()
    assert len(library) >= 5
    assert {"companion", "medication_nurse", "entertainer", "storyteller"} <= {p.id for p in library}


def test_shipped_voices_are_distinct_and_available_offline() -> None:
    voices = [persona.voice_config for persona in load_library()]
    assert len(set(voices)) == len(voices)
    piper = [voice for voice in voices if isinstance(voice, PiperVoice)]
    assert len(piper) >= 3
    assert {voice.voice for voice in piper} == {"en_US-joe-medium"}
    assert any(isinstance(voice, EspeakVoice) for voice in voices)


def test_shipped_offline_fallbacks_say_they_are_offline() -> None:
    for persona in load_library():
        for line in persona.behavior_config.offline_script.fallbacks:
            assert "offline" in line, (persona.id, line)


def test_voice_config_keeps_its_engine_tag_for_the_api() -> None:
    companion = load_library().get("companion")
    assert companion is not None
    assert msgspec.to_builtins(companion.voice_config)["engine"] == "piper"


def test_library_lookup_and_order(tmp_path: Path) -> None:
    write(tmp_path, VALID)
    write(tmp_path, VALID.replace('id = "sample"', 'id = "another"'), stem="another")
    library = load_library(tmp_path)
    assert len(library) == 2
    assert [p.id for p in library] == ["another", "sample"]
    assert library.all() == tuple(library)
    assert "sample" in library
    assert "missing" not in library
    assert library.get("missing") is None


def test_library_rejects_duplicate_ids_when_built_directly() -> None:
    persona = load_library().all()[0]
    with pytest.raises(ValueError, match="duplicate"):
        PersonaLibrary([persona, persona])


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("speed = 1.0", "speed = 3.0", "voice_config.speed"),
        ("speed = 1.0", 'speed = 1.0\ncolour = "red"', "voice_config.colour"),
        ('engine = "piper"', 'engine = "festival"', "voice_config.engine"),
        ('name = "Sample"\n', "", "name"),
        ('version = "1.0.0"', 'version = "one"', "version"),
        ('adaptation_mode = "static"', 'adaptation_mode = "random"', "adaptation_mode"),
        ("created_at = 2025-01-01T00:00:00Z", "created_at = 2025-01-01T00:00:00", "created_at"),
        ('system_prompt = "You are a test persona."', 'system_prompt = ""', "behavior_config.system_prompt"),
        ('verbosity = "brief"', 'verbosity = "rambling"', "behavior_config.style.verbosity"),
        ("max_tokens = 100", "max_tokens = 8", "behavior_config.llm.max_tokens"),
        ("max_tokens = 100", "max_tokens = 100\ntemperature = 0.5", "behavior_config.llm.temperature"),
        ('keywords = ["hello"]', "keywords = []", "behavior_config.offline_script.rules[0].keywords"),
        (
            'fallbacks = ["I\'m in offline mode."]',
            "fallbacks = []",
            "behavior_config.offline_script.fallbacks",
        ),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(PersonaFileError) as caught:
        load_library(tmp_path)
    assert caught.value.path == path
    assert caught.value.field == field
    assert str(path) in str(caught.value)
    assert f"`{field}`" in str(caught.value)


def test_file_name_must_match_id(tmp_path: Path) -> None:
    path = write(tmp_path, VALID, stem="other")
    with pytest.raises(PersonaFileError, match="must match the file name") as caught:
        load_library(tmp_path)
    assert (caught.value.path, caught.value.field) == (path, "id")


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    first = write(tmp_path, VALID, stem="a_copy")
    second = write(tmp_path, VALID)
    with pytest.raises(PersonaFileError, match="already used") as caught:
        load_library(tmp_path)
    assert (caught.value.path, caught.value.field) == (second, "id")
    assert str(first) in str(caught.value)


def test_updated_before_created(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("updated_at = 2025-02-01", "updated_at = 2024-12-01"))
    with pytest.raises(PersonaFileError, match="earlier than created_at") as caught:
        load_library(tmp_path)
    assert (caught.value.path, caught.value.field) == (path, "updated_at")


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('name = "Sample"', "name = Sample"))
    with pytest.raises(PersonaFileError, match="not valid TOML") as caught:
        load_library(tmp_path)
    assert caught.value.path == path
    assert str(path) in str(caught.value)


def test_empty_library(tmp_path: Path) -> None:
    with pytest.raises(PersonaFileError, match="no persona files") as caught:
        load_library(tmp_path)
    assert caught.value.path == tmp_path


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PersonaFileError, match="not a folder"):
        load_library(tmp_path / "nowhere")
