"""eSpeak NG voices, run as the `espeak-ng` binary: one short-lived process per utterance.

The text goes in on stdin (never through a shell or the argument list) wrapped
in SSML, because the installed espeak-ng (1.51) has no command-line option for
pitch range but honours `<prosody range>` (same 0-99 scale as `-p`); the text
itself is XML-escaped, so it cannot carry markup of its own. The WAV comes back
on stdout as it is synthesised and is yielded as it arrives; espeak-ng runs at
several hundred times real time, out of process, so it needs no inference pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import struct
from collections.abc import AsyncIterator
from xml.sax.saxutils import escape

import numpy as np

from pipeline.voices.base import EspeakSpec, Pcm, VoiceError, VoiceUnavailable

ENGINE = "espeak-ng"
SAMPLE_RATE = 22050
_VOICE_NAME = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]+)*(\+[A-Za-z0-9_]+)?$")
_READ_SIZE = 1 << 16
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class EspeakEngineVoice:
    def __init__(self, *, spec: EspeakSpec, binary: str = "espeak-ng") -> None:
        if not _VOICE_NAME.match(spec.voice):
            raise ValueError(f"not an espeak-ng voice name: {spec.voice!r}")
        for field, value in (("pitch", spec.pitch), ("pitch_range", spec.pitch_range)):
            if not 0 <= value <= 99:
                raise ValueError(f"{field} must be within 0-99, got {value}")
        found = shutil.which(binary)
        if found is None:
            raise VoiceUnavailable(
                f"{binary} is not installed (Debian package espeak-ng; scripts/ installs it)", engine=ENGINE
            )
        self.spec = spec
        self.name = f"{ENGINE}:{spec.voice}"
        self.sample_rate = SAMPLE_RATE
        self._argv = (
            found,
            "--stdout",
            "--stdin",
            "-m",  # SSML: the text is wrapped in <prosody range> below
            "-b",
            "1",  # UTF-8
            "-v",
            spec.voice,
            "-s",
            str(spec.words_per_minute),
            "-p",
            str(spec.pitch),
        )

    async def synthesize(self, text: str) -> AsyncIterator[Pcm]:
        text = " ".join(_CONTROL.sub(" ", text).split())
        if not text:
            return
        ssml = f'<speak><prosody range="{self.spec.pitch_range}">{escape(text)}</prosody></speak>'
        process = await asyncio.create_subprocess_exec(
            *self._argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        stderr = asyncio.ensure_future(process.stderr.read())
        try:
            process.stdin.write(ssml.encode())
            process.stdin.close()
            stream = _WavStream(self.sample_rate)
            while chunk := await process.stdout.read(_READ_SIZE):
                samples = stream.feed(chunk)
                if samples.size:
                    yield self._level(samples)
            returncode = await process.wait()
            message = (await stderr).decode(errors="replace").strip()
            if returncode != 0 or not stream.samples_seen:
                # espeak-ng's own message names the voice, never the text.
                raise VoiceError(
                    f"espeak-ng failed (exit {returncode}): {message[:200] or 'no audio'}", engine=ENGINE
                )
        finally:
            stderr.cancel()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()

    def _level(self, samples: Pcm) -> Pcm:
        if self.spec.volume == 1.0:
            return samples
        scaled = samples.astype(np.float32) * np.float32(self.spec.volume)
        leveled: Pcm = np.clip(scaled, -32767, 32767).astype(np.int16)
        return leveled


class _WavStream:
    """Splits a streamed WAV into samples.

    espeak-ng writes placeholder sizes when piping, so the data runs to the end of the stream.
    """

    def __init__(self, sample_rate: int) -> None:
        self._sample_rate = sample_rate
        self._header = b""
        self._in_data = False
        self._odd = b""
        self.samples_seen = 0

    def feed(self, data: bytes) -> Pcm:
        if not self._in_data:
            self._header += data
            data = self._parse_header()
        data = self._odd + data
        usable = len(data) - len(data) % 2
        self._odd = data[usable:]
        samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.int16)
        self.samples_seen += samples.size
        return samples

    def _parse_header(self) -> bytes:
        """Return the bytes after the `data` chunk header, once it is complete."""
        header = self._header
        if len(header) < 12:
            return b""
        if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            raise VoiceError("espeak-ng did not write a WAV stream", engine=ENGINE)
        offset = 12
        while len(header) >= offset + 8:
            chunk_id, size = header[offset : offset + 4], struct.unpack_from("<I", header, offset + 4)[0]
            if chunk_id == b"data":
                self._in_data = True
                return header[offset + 8 :]
            if len(header) < offset + 8 + size:
                return b""
            if chunk_id == b"fmt ":
                audio_format, channels, rate = struct.unpack_from("<HHI", header, offset + 8)
                bits = struct.unpack_from("<H", header, offset + 22)[0]
                if (audio_format, channels, rate, bits) != (1, 1, self._sample_rate, 16):
                    raise VoiceError(
                        f"espeak-ng wrote {channels} channel(s) of {bits}-bit audio at {rate} Hz, "
                        f"expected mono 16-bit at {self._sample_rate} Hz",
                        engine=ENGINE,
                    )
            offset += 8 + size + size % 2
        return b""
