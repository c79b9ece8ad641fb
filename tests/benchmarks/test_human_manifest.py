"""The human clips: the manifest decodes, every file is there, and the labels fit the audio."""

from __future__ import annotations

import wave

import pytest

from audio_fixtures.human import HUMAN_DIR, HumanClip, clips_of, load_human_manifest

CLIPS = load_human_manifest().clips


def test_every_part_is_there_and_no_file_is_in_two() -> None:
    dev, held_out, natural = clips_of("dev"), clips_of("held_out"), clips_of("natural")
    assert len(dev) + len(held_out) + len(natural) == len(CLIPS) >= 20
    assert held_out
    assert dev
    assert natural
    assert not {c.file for c in dev} & {c.file for c in held_out}
    assert not {c.file for c in natural} & {c.file for c in dev + held_out}
    assert sum(c.longest_pause_s >= 0.6 for c in CLIPS) >= 3


def test_the_natural_part_has_long_unaugmented_pauses_and_fillers() -> None:
    """What the other parts lack: pauses of a second or more as spoken (no silence added), and "um"."""
    natural = clips_of("natural")
    assert sum(c.longest_pause_s >= 1.0 for c in natural) >= 10
    assert not any("augmentation" in c.notes for c in natural)
    assert sum(" um " in f" {c.transcript} " for c in natural) >= 3


@pytest.mark.parametrize("clip", CLIPS, ids=lambda c: c.name)
def test_a_clips_labels_fit_its_audio(clip: HumanClip) -> None:
    path = HUMAN_DIR / clip.file
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, clip.sample_rate)
        duration_s = wav.getnframes() / wav.getframerate()
    assert clip.sample_rate in (8000, 16000)
    assert clip.duration_s == pytest.approx(duration_s, abs=0.001)
    assert 0 <= clip.speech_start_s < clip.turn_end_s <= clip.duration_s
    edges = [clip.speech_start_s]
    for pause in clip.pauses:
        edges += [pause.start_s, pause.end_s]
    edges.append(clip.turn_end_s)
    assert edges == sorted(edges), "pauses inside [speech start, turn end], in order, not overlapping"
    assert all(p.end_s > p.start_s for p in clip.pauses)
    assert clip.transcript
    assert clip.source.files
    assert clip.source.licence


def test_every_wav_in_the_folder_is_in_the_manifest() -> None:
    assert {p.name for p in HUMAN_DIR.glob("*.wav")} == {c.file for c in CLIPS}
