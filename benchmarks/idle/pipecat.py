"""Stock pipecat's side of the device capacity run: its idle devices, and the probe that asks if it keeps up.

The reference bot (`benchmarks.reference`) has no heartbeat, so whether it
still serves every connection in time is asked of one of them, the probe: it
connects first (`PipecatLink`), streams silence in real time from its own
`Microphone` like the fleet's devices, says its fixture once as a warm-up
before the first step (a connection's first turn is slower), and after each
step's window says it again; the step keeps up only if reply audio comes
within the reply timeout. The probe waits until the reply has played, so the
reply never runs into the next step's window (nor into the probe's next turn,
where its audio would be taken for the answer: `PipecatLink` waits for the
answer to the rest of an utterance the bot cut early, too). A reply that began
before the speech had ended is reported as cut early (a negative
voice-to-voice), not as a latency.

Importing this module loads pipecat's protobuf frames, which a run against
this server never needs: `benchmarks.idle.capacity` imports it only for
`--target pipecat`.
"""

from __future__ import annotations

import contextlib
import time

from websockets.exceptions import ConnectionClosed

from benchmarks.idle.fleet import IdleFleet
from benchmarks.idle.report import Probe
from benchmarks.lib.clips import Clip
from benchmarks.lib.device import DeviceError
from benchmarks.lib.microphone import Microphone
from benchmarks.reference.link import PipecatLink, PipecatSocket


async def connect_idle(fleet: IdleFleet, base_url: str) -> None:
    """One more idle device for `fleet`: a connection to the bot, once its pipeline is up (`bot-ready`)."""
    fleet.add(await PipecatSocket.open(base_url))


class ProbeDevice:
    """One of the step's devices, which says `clip` when asked and times the reply."""

    def __init__(self, clip: Clip, *, reply_timeout_s: float) -> None:
        self._clip = clip
        self._reply_timeout_s = reply_timeout_s
        self._stack = contextlib.AsyncExitStack()
        self._link: PipecatLink | None = None
        self._microphone: Microphone | None = None
        self._turns = 0

    @property
    def is_open(self) -> bool:
        return self._link is not None

    def closed_with(self) -> str | None:
        """Why its socket closed, once it has."""
        if self._link is None or not self._link.socket.is_closed:
            return None
        return self._link.socket.closed_with or "closed"

    async def open(self, base_url: str) -> None:
        """Connect (until `bot-ready`) and start streaming silence."""
        link = await PipecatLink.open(base_url)
        self._stack.push_async_callback(link.close)
        self._microphone = await self._stack.enter_async_context(Microphone(link))
        self._link = link

    async def close(self) -> None:
        await self._stack.aclose()

    async def warm_up(self) -> None:
        """Say the clip once, not measured, unless the probe is not connected or has spoken already."""
        if self.is_open and self._turns == 0:
            await self.say()

    async def say(self) -> Probe:
        """Say the clip; its voice-to-voice once the reply has played, or why there is none."""
        if self._link is None or self._microphone is None:
            return Probe(voice_to_voice_ms=None, error="the probe is not connected")
        if closed := self.closed_with():
            return Probe(voice_to_voice_ms=None, error=f"the probe's socket closed ({closed})")
        self._turns += 1
        link, clip = self._link, self._clip
        since = link.mark()
        try:
            utterance = await self._microphone.say(clip.pcm, mark_sample=clip.end_sample)
            remaining = utterance.ended + self._reply_timeout_s - time.perf_counter()
            first = await link.first_audio(since=since, timeout=max(0.0, remaining))
        except DeviceError:
            timeout = self._reply_timeout_s
            return Probe(voice_to_voice_ms=None, error=f"the probe got no reply audio within {timeout:g} s")
        except ConnectionClosed as exc:
            return Probe(voice_to_voice_ms=None, error=f"the probe's socket closed ({exc})")
        try:
            reply = await link.reply(since=since, first=first)
        except DeviceError as exc:
            return Probe(voice_to_voice_ms=None, error=f"the probe's reply never ended ({exc})")
        voice_to_voice_ms = round((first.at - utterance.mark_at) * 1000, 1)
        return Probe(voice_to_voice_ms=voice_to_voice_ms, heard=reply.transcripts)
