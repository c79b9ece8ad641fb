"""The shipped alert rules: what they catch (with the ASR's ways of writing it), what they let pass
(negations, idioms), and no false alarm on ordinary speech: every fixture's transcript (synthetic and
human), every line of the persona library, and every line the other tests say to a persona."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio_fixtures import load_manifest
from audio_fixtures.human import load_human_manifest
from personas import load_library
from server.alerts.matcher import find
from server.alerts.rules import AlertRules, RulesError

RULES = AlertRules.load(None).default
ROOT = Path(__file__).resolve().parents[2]


def rules_hit(text: str) -> list[str]:
    return [m.rule_id for m in find(RULES.rules, text, RULES.variants)]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("I fell in the kitchen and I can't get up.", "fall"),
        ("i've fallen", "fall"),
        ("I just fell over in the bathroom", "fall"),
        ("I had a fall this morning", "fall"),
        ("I'm on the floor.", "fall"),
        ("I cant get up", "fall"),
        ("I have chest pain.", "chest_pain"),
        ("There's a pain in my chest", "chest_pain"),
        ("My chest feels tight", "chest_pain"),
        ("I can't breath", "breathing"),  # the ASR's spelling
        ("I'm struggling to breathe", "breathing"),
        ("I'm short of breath", "breathing"),
        ("Help! Help!", "help"),
        ("Somebody help me.", "help"),
        ("Please call an ambulance", "help"),
        ("call 911", "help"),
        ("I need a nurse", "help"),
        ("I want to kill myself", "self_harm"),
        ("I don't want to live any more", "self_harm"),
        ("I wish I was dead", "self_harm"),
        ("I'm in a lot of pain", "pain"),
        ("My knee hurts", "pain"),
        ("Where am I?", "confusion"),
        ("I don't know where I am", "confusion"),
        ("I'm so confused", "confusion"),
        ("I FELL, AND IT HURTS SO MUCH", "fall"),
        ("I fell\u2014can\u2019t move", "fall"),
    ],
)
def test_what_the_rules_catch(text: str, rule: str) -> None:
    assert rule in rules_hit(text)


@pytest.mark.parametrize(
    "text",
    [
        "I didn't fall.",
        "I did not fall, I just sat down",
        "I nearly fell",
        "I almost fell over but caught the rail",
        "I never fell in my life",
        "I fell asleep in my chair",
        "I fell in love with him in 1952",
        "The leaves fell off the tree",
        "I don't want to die",
        "I want to live to a hundred",
        "Can you help me with the crossword?",
        "How can I help you today?",
        "I'm not in pain",
        "No pain today, thank you",
        "My grandson helped me with the photos",
        "I can't get up the stairs as fast as I used to",
        "The nurse came by this morning",
        "The doctor is coming on Tuesday",
    ],
)
def test_what_the_rules_let_pass(text: str) -> None:
    assert rules_hit(text) == []


def test_a_negation_counts_only_in_its_own_clause() -> None:
    assert rules_hit("I did not fall, but I cannot breathe") == ["breathing"]
    assert rules_hit("No. I fell.") == ["fall"]


def ordinary_lines() -> Iterator[str]:
    """Ordinary conversation: no line here should raise an alert."""
    for entry in load_manifest():
        yield entry.text
    for clip in load_human_manifest().clips:
        yield clip.transcript
    for persona in load_library():
        behaviour = persona.behavior_config
        yield behaviour.greeting
        yield from behaviour.offline_script.fallbacks
        yield from (rule.reply for rule in behaviour.offline_script.rules)
    said = re.compile(r"\"(?:message|text)\": \"([^\"]{3,})\"")
    for folder in ("server", "voice", "live", "console", "pipeline"):
        for path in sorted((ROOT / "tests" / folder).glob("*.py")):
            yield from said.findall(path.read_text())


def test_no_alert_on_ordinary_speech() -> None:
    lines = list(ordinary_lines())
    assert len(lines) > 80
    fired = {line: rules_hit(line) for line in lines if rules_hit(line)}
    assert fired == {}


def test_the_shipped_rules_cover_what_the_issue_names() -> None:
    ids = {rule.id for rule in RULES.rules}
    assert {"fall", "chest_pain", "breathing", "help", "confusion", "self_harm", "pain"} <= ids
    assert RULES.help_line
    shipped = tomllib.loads((ROOT / "server" / "alerts" / "rules.toml").read_text())
    assert all(rule["severity"] in ("info", "warning", "critical") for rule in shipped["rules"])


def test_a_group_file_replaces_and_adds_rules_by_id(tmp_path: Path) -> None:
    (tmp_path / "wing-b.toml").write_text(
        '[[rules]]\nid = "confusion"\nseverity = "critical"\nphrases = ["where am i"]\n'
        '[[rules]]\nid = "wandering"\nseverity = "warning"\nphrases = ["let me out"]\n'
    )
    loaded = AlertRules.load(tmp_path)
    wing_b = loaded.for_group("wing-b")
    assert {r.id: r.severity for r in wing_b.rules}["confusion"] == "critical"
    assert [m.rule_id for m in find(wing_b.rules, "Let me out!", wing_b.variants)] == ["wandering"]
    assert loaded.for_group("wing-a") is loaded.default
    assert loaded.for_group(None) is loaded.default


def test_a_bad_file_is_named_with_its_field(tmp_path: Path) -> None:
    (tmp_path / "wing-d.toml").write_text('[[rules]]\nid = "fall"\nseverity = "critical"\nphrases = []\n')
    with pytest.raises(RulesError, match=r"wing-d\.toml.*phrases"):
        AlertRules.load(tmp_path)
    (tmp_path / "wing-d.toml").write_text('[[rules]]\nid = "fall"\nseverity = "critical"\nphrase = ["x"]\n')
    with pytest.raises(RulesError, match=r"wing-d\.toml.*phrase"):
        AlertRules.load(tmp_path)
