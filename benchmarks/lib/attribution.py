"""Which reply answers a turn, and what the person heard before their turn was over.

A clip is one turn of one person, and it says where that turn truly ends
(`turn_end_s`: labelled for the human clips, the end of speech otherwise). A
server may judge the turn over at a pause inside it and start talking: a long
utterance can bring several replies. The rules, on the reply audio a device
received, each piece with its arrival time and the reply it belongs to (this
server's `turn_id`; for stock pipecat, the user turn it answers):

- **talk-over**: reply audio that arrived before the turn ended; its seconds
  are how much the bot said while the person was still mid-turn;
- **voice-to-voice**: from the turn end to the first audio of the first reply
  that *starts* at or after it. The tail of a reply begun early is not an
  answer to the whole turn; a turn no reply starts after has no voice-to-voice
  (`answered` false);
- **double answer**: more than one reply (with audio) to one clip.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import msgspec


class ReplyAudio(msgspec.Struct, frozen=True):
    """One piece of reply audio as the device received it."""

    at: float
    """Arrival, `time.perf_counter()`."""
    seconds: float
    reply: Hashable
    """Which reply it belongs to."""
    index: int = -1
    """The message's place in the link's messages (-1 when not from a link)."""


class Attribution(msgspec.Struct, frozen=True, kw_only=True):
    replies: int
    """Distinct replies with audio: more than one is a double answer."""
    talk_over_s: float
    """Seconds of reply audio received before the turn ended."""
    answer: ReplyAudio | None
    """The first audio of the first reply that starts at or after the turn end."""
    first: ReplyAudio | None
    """The first reply audio of all (before the turn end when talked over)."""

    @property
    def talked_over(self) -> bool:
        return self.talk_over_s > 0

    @property
    def double_answer(self) -> bool:
        return self.replies > 1


def attribute(audio: Sequence[ReplyAudio], turn_end_at: float) -> Attribution:
    """Apply the rules above to the reply audio of one clip, in arrival order."""
    starts: dict[Hashable, ReplyAudio] = {}
    for piece in audio:
        starts.setdefault(piece.reply, piece)
    answer = next((s for s in starts.values() if s.at >= turn_end_at), None)
    return Attribution(
        replies=len(starts),
        talk_over_s=round(sum(p.seconds for p in audio if p.at < turn_end_at), 3),
        answer=answer,
        first=audio[0] if audio else None,
    )


def answer_after(audio: Sequence[ReplyAudio], turn_end_at: float) -> ReplyAudio | None:
    """The first piece of a reply that starts at or after `turn_end_at` (for waiting on it)."""
    return attribute(audio, turn_end_at).answer
