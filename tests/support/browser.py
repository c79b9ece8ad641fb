"""A real headless browser: Debian's chromium (installed by scripts/test.sh), driven by Playwright.

Playwright's own browsers are never downloaded: the system binary is launched with
`executable_path`. Its microphone can be a fake one playing a WAV file (Chromium loops the
file, so `fake_microphone_wav` pads one utterance with silence long enough to be heard once).
"""

from __future__ import annotations

import os
import re
import shutil
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import soxr
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
FAKE_CAPTURE_RATE = 48_000
ARTIFACTS_DIR = Path(
    os.environ.get("COMPANION_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)
"""Where a failed browser test leaves its screenshot (`COMPANION_TEST_ARTIFACTS`, else ./test-artifacts)."""

_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def chromium_binary() -> Path:
    """The system chromium, or a failure saying how to install it (scripts/test.sh does)."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test.sh installs it)")
    return CHROMIUM


@contextmanager
def chromium(*, microphone_wav: Path | None = None) -> Iterator[Browser]:
    """Headless chromium with a fake microphone: `microphone_wav` looped, else Chromium's beep."""
    args = list(_ARGS)
    if microphone_wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={microphone_wav}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium_binary()), args=args, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def fake_microphone_wav(
    pcm: np.ndarray, sample_rate: int, path: Path, *, lead_s: float, tail_s: float
) -> Path:
    """`pcm` (int16 mono) at 48 kHz, after `lead_s` and before `tail_s` of digital silence, as a WAV."""
    audio = soxr.resample(pcm.astype(np.float32) / 32768.0, sample_rate, FAKE_CAPTURE_RATE)
    samples = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
    silence = np.zeros
    padded = np.concatenate(
        [
            silence(int(lead_s * FAKE_CAPTURE_RATE), "<i2"),
            samples,
            silence(int(tail_s * FAKE_CAPTURE_RATE), "<i2"),
        ]
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(FAKE_CAPTURE_RATE)
        wav.writeframes(padded.tobytes())
    return path


def save_screenshot(page: Page, name: str) -> Path:
    """The page as it is now, under ARTIFACTS_DIR, named after the test."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS_DIR / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@contextmanager
def screenshot_on_failure(page: Page, name: str) -> Iterator[None]:
    """Run the block; if it fails, save the page's screenshot and name it in the failure."""
    try:
        yield
    except BaseException as error:
        try:
            path = save_screenshot(page, name)
        except Exception as screenshot_error:  # the page may be gone: the failure itself matters more
            error.add_note(f"no screenshot: {screenshot_error}")
        else:
            error.add_note(f"screenshot: {path}")
        raise
