"""How long this speaker may be silent inside a turn: the silence that ends their turn, learned as they talk.

A turn is judged over after a stretch of silence (see `pipeline.graph.listen`):
a short one when Smart Turn or the transcript says the turn sounds finished
("confident"), a longer one otherwise. Fixed values suit nobody: a brisk
speaker waits for an answer they could have had sooner, and someone who stops
for a second between two sentences of one thought is talked over at every
stop. `PauseModel` watches the pauses inside this speaker's turns — silences
after which the same turn went on, including a turn judged over too early and
taken back — and sets both silences just above the longest recent one:

- confident: `margin_ms` above the longest of the last `memory` pauses that
  sounded finished (a full stop between sentences), never below the static
  `confident_silence_ms`; before the speaker has finished one turn, a stranger
  gets `first_confident_silence_ms`;
- otherwise: `margin_ms` above the longest of the last `memory` pauses of any
  kind, and at least `min_fallback_silence_ms` (750 ms: a hesitation inside a
  sentence runs long even for a brisk speaker) and `fallback_margin_ms` above
  the confident silence; the static `fallback_silence_ms` until a pause has
  been seen.

A third silence is for a turn that plainly goes on (the listening stage's
"unfinished" verdict: the speculative transcript stops mid-sentence and Smart
Turn is not confident): the other silence, but at least `unfinished_silence_ms`, in every
mode, since what it waits for is in the words, not in this speaker's habits. A fourth,
`dangling_silence_ms`, for an unfinished turn whose last word cannot end a sentence
("…and I went to the"): someone searching for a word; it is not capped below itself.

Both are capped (`max_confident_silence_ms`, `max_fallback_silence_ms`), so one
long silence cannot leave a person waiting indefinitely for an answer. The
persona's `adaptation_mode` chooses how far this goes: ``static`` keeps the
fixed silences; ``adaptive`` learns within the session; ``learning`` also keeps
what it learned (`PauseProfile`) with the resident's session, so it follows
them across reconnects, devices and handoffs. What is kept are durations and
verdicts, never audio or words.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

import msgspec

AdaptationMode = Literal["static", "adaptive", "learning"]


class PauseParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Bounds of the learned silences, in milliseconds."""

    memory: int = 8
    """How many recent pauses of each kind are remembered."""
    margin_ms: int = 100
    """How much longer than the longest remembered pause the silence is."""
    first_confident_silence_ms: int = 600
    """The confident silence before the speaker has finished a turn (nothing known about them yet)."""
    min_fallback_silence_ms: int = 750
    fallback_margin_ms: int = 150
    """The fallback silence is at least this much longer than the confident one."""
    max_confident_silence_ms: int = 1500
    max_fallback_silence_ms: int = 2000

    def __post_init__(self) -> None:
        if self.memory < 1:
            raise ValueError("PauseParams.memory must be at least 1")
        if self.margin_ms < 0 or self.fallback_margin_ms < 0:
            raise ValueError("PauseParams margins must not be negative")
        if self.max_fallback_silence_ms < self.max_confident_silence_ms:
            raise ValueError("PauseParams.max_fallback_silence_ms must be at least max_confident_silence_ms")


class Pause(msgspec.Struct, frozen=True, array_like=True):
    """A silence inside a turn: how long it lasted, and whether the turn sounded finished at it."""

    seconds: float
    confident: bool


class PauseProfile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What is learned about a speaker: their recent pauses and how many turns they have finished."""

    recent: tuple[Pause, ...] = ()
    """The last pauses of any kind, oldest first."""
    finished: tuple[Pause, ...] = ()
    """The last pauses at which the turn sounded finished, oldest first."""
    turns: int = 0


class PauseModel:
    """The silences that end this speaker's turns (seconds), learned from their pauses."""

    def __init__(
        self,
        *,
        confident_silence_ms: int,
        fallback_silence_ms: int,
        unfinished_silence_ms: int | None = None,
        dangling_silence_ms: int | None = None,
        mode: AdaptationMode = "adaptive",
        params: PauseParams | None = None,
        profile: PauseProfile | None = None,
    ) -> None:
        self._static_confident_s = confident_silence_ms / 1000
        self._static_fallback_s = fallback_silence_ms / 1000
        self._unfinished_s = (unfinished_silence_ms or 0) / 1000
        self._dangling_s = (dangling_silence_ms or 0) / 1000
        self._params = params or PauseParams()
        self.mode: AdaptationMode = mode
        profile = profile or PauseProfile()
        memory = self._params.memory
        self._recent = deque(profile.recent, maxlen=memory)
        self._finished = deque(profile.finished, maxlen=memory)
        self._turns = profile.turns

    @property
    def profile(self) -> PauseProfile:
        return PauseProfile(recent=tuple(self._recent), finished=tuple(self._finished), turns=self._turns)

    def observe(self, seconds: float, *, confident: bool) -> None:
        """A silence of `seconds` inside a turn, after which the same turn went on."""
        if seconds <= 0:
            return
        pause = Pause(seconds=round(seconds, 3), confident=confident)
        self._recent.append(pause)
        if confident:
            self._finished.append(pause)

    def turn_ended(self) -> None:
        """A turn was judged over."""
        self._turns += 1

    def silence_s(self, *, confident: bool, unfinished: bool = False, dangling: bool = False) -> float:
        """The silence after which a turn is over: when it sounds finished, when it plainly goes on
        (`unfinished`; `dangling` too if its last word cannot end a sentence), or otherwise."""
        if confident:
            return self._static_confident_s if self.mode == "static" else self._confident_s()
        if self.mode == "static":
            fallback_s = self._static_fallback_s
        else:
            fallback_s = self._fallback_s(self._confident_s())
        if not unfinished:
            return fallback_s
        if dangling and self._dangling_s:
            return max(fallback_s, self._unfinished_s, self._dangling_s)
        cap_s = max(fallback_s, self._params.max_fallback_silence_ms / 1000)
        return min(max(fallback_s, self._unfinished_s), cap_s)

    def _confident_s(self) -> float:
        p = self._params
        if self._finished:
            learned = max(x.seconds for x in self._finished) + p.margin_ms / 1000
        elif self._turns == 0:
            learned = p.first_confident_silence_ms / 1000
        else:
            learned = self._static_confident_s
        return min(max(learned, self._static_confident_s), p.max_confident_silence_ms / 1000)

    def _fallback_s(self, confident_s: float) -> float:
        p = self._params
        if not self._recent:
            return max(self._static_fallback_s, confident_s + p.fallback_margin_ms / 1000)
        learned = max(
            max(x.seconds for x in self._recent) + p.margin_ms / 1000,
            confident_s + p.fallback_margin_ms / 1000,
            p.min_fallback_silence_ms / 1000,
        )
        return min(learned, p.max_fallback_silence_ms / 1000)
