"""The storyteller: a story in chapters, told on every connected participant at one moment, the
listeners choosing by vote (voice or button) what happens between chapters.

Per chapter: `sync_event` "story_chapter" (its text, `starts_at`), said at `starts_at`. At a choice:
"story_choice" (the question, options with their buttons, `starts_at`, `closes_at`), said at
`starts_at`; votes are taken until it has been read out and `vote_window_s` more have passed (or
all have voted), counted by the rule in server/activities/story.py, then "story_vote" and the line
saying what was chosen. After the last chapter, "story_end", and the activity stops.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import msgspec

from server.activities import story as telling
from server.activities.banks import Chapter, Choice, Story
from server.activities.board import Progress, Result
from server.activities.config import story_config
from server.activities.game import LEAD_S, Game
from server.activities.matching import LETTERS


class StoryGame(Game):
    async def play(self) -> None:
        config = story_config(self.activity.config, self.banks)
        story = telling.choose_story(self.activity_id, config, self.banks)
        progress = await self.board.progress() or Progress(number=1, chapter=story.start)
        if progress.number == 1 and not progress.told:
            await self.stage.sleep_until(self.activity.starts_at)
        while True:
            chapter = story.chapters[progress.chapter]
            if not progress.told:
                await self._tell(story, progress, chapter)
                progress = msgspec.structs.replace(progress, told=True)
                await self.board.save_progress(progress)
            if chapter.choice is None:
                break
            taken = await self._vote(progress.number, chapter.choice, config.vote_window_s)
            progress = Progress(number=progress.number + 1, chapter=chapter.choice.options[taken].next)
            await self.board.save_progress(progress)
        present = await self.present()
        await self.stage.cue(present, "story_end", self.fields(story_id=story.id))

    async def _tell(self, story: Story, progress: Progress, chapter: Chapter) -> None:
        present = await self.present()
        await self.save(current_round=progress.number)
        starts_at = self.stage.now() + timedelta(seconds=LEAD_S)
        text = chapter.text
        if progress.number == 1:
            text = f"{telling.intro_line(story)} {text}"
        fields = self.fields(
            story_id=story.id,
            title=story.title,
            chapter=progress.chapter,
            number=progress.number,
            text=chapter.text,
            starts_at=starts_at.isoformat(),
        )
        await self.stage.cue(present, "story_chapter", fields)
        await self.stage.sleep_until(starts_at)
        await self.line(present, text, interrupt=True)

    async def _vote(self, number: int, choice: Choice, window_s: float) -> int:
        done = await self.board.result(number)
        if done is not None:
            return done.outcome
        window = await self.board.window()
        if window is None or window.number != number or window.kind != "choice":
            line = telling.choice_line(choice)
            window, present = await self.open_window(
                number, "choice", line, telling.phrasings(choice), window_s
            )
            options = [
                {"button": LETTERS[i], "id": o.id, "text": o.label} for i, o in enumerate(choice.options)
            ]
            await self.stage.cue(
                present,
                "story_choice",
                self.fields(
                    number=number,
                    question=choice.question,
                    options=options,
                    starts_at=window.opens_at.isoformat(),
                    closes_at=window.closes_at.isoformat(),
                ),
            )
            await self.stage.sleep_until(window.opens_at)
            await self.stage.say(present, line, interrupt=True)
        votes = await self.collect(window)
        taken = telling.winner(choice, votes.values())
        await self.board.save_result(Result(number=number, chosen=votes, outcome=taken))
        counts = Counter(v for v in votes.values() if v is not None)
        present = await self.present()
        await self.stage.cue(
            present,
            "story_vote",
            self.fields(
                number=number,
                votes={o.id: counts.get(i, 0) for i, o in enumerate(choice.options)},
                chosen=choice.options[taken].id,
            ),
        )
        await self.line(present, telling.decided_line(choice, taken, sum(counts.values())))
        return taken
