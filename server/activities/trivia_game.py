"""The quizmaster: `rounds` questions, each put to every connected participant at one moment, the
answers collected within the window, who was right, the standings between rounds, the winner.

Per question: `sync_event` "trivia_question" (its text, options with their buttons, `starts_at`,
`closes_at`) to the devices connected then; at `starts_at` each says it in the quizmaster's voice.
Answers are taken from `starts_at` until the question has been read out and `answer_window_s` more
have passed, or sooner once all have answered. Then "trivia_result" and the result line; between
rounds the standings; after the last, "trivia_end" and the winner, and the activity stops (devices
back to their own persona). Scores, per device and per `user:<id>` (the user of the session each
device left for the game), and the round are kept in the activity (`GET .../activities/{id}`).
"""

from __future__ import annotations

from server.activities import trivia
from server.activities.board import Result
from server.activities.config import trivia_config
from server.activities.game import Game
from server.activities.matching import LETTERS
from server.activities.trivia import Asked


class TriviaGame(Game):
    async def play(self) -> None:
        config = trivia_config(self.activity.config, self.banks)
        questions = trivia.plan(self.activity_id, config, self.banks)
        users = await self._users()
        if not self.activity.current_round:
            await self.stage.sleep_until(self.activity.starts_at)
            await self.line(await self.present(), trivia.intro_line(len(questions), config.difficulty))
        for number in range(max(1, self.activity.current_round or 1), len(questions) + 1):
            if await self.board.result(number) is None:
                await self._round(number, questions, config.answer_window_s, users)
        present = await self.present()
        scores = self.activity.scores
        await self.stage.cue(present, "trivia_end", self.fields(scores=scores))
        await self.line(present, trivia.winner_line(scores, self.names))

    async def _round(
        self, number: int, questions: list[Asked], window_s: float, users: dict[str, str]
    ) -> None:
        asked = questions[number - 1]
        line = trivia.question_line(number, len(questions), asked)
        window = await self.board.window()
        if window is None or window.number != number or window.kind != "question":
            window, present = await self.open_window(number, "question", line, asked.phrasings, window_s)
            await self.save(current_round=number)
            options = [{"button": LETTERS[i], "text": label} for i, label in enumerate(asked.labels)]
            await self.stage.cue(
                present,
                "trivia_question",
                self.fields(
                    round=number,
                    rounds=len(questions),
                    question=asked.question.item.question,
                    options=options,
                    starts_at=window.opens_at.isoformat(),
                    closes_at=window.closes_at.isoformat(),
                    device_ids=present,
                ),
            )
            await self.stage.sleep_until(window.opens_at)
            await self.stage.say(present, line, interrupt=True)
        chosen = await self.collect(window)
        await self.board.save_result(Result(number=number, chosen=chosen, outcome=asked.right))
        scores = await self._scores(number, questions, users)
        await self.save(scores=scores, current_round=number)
        right = [d for d in window.device_ids if chosen.get(d) == asked.right]
        present = await self.present()
        await self.stage.cue(
            present,
            "trivia_result",
            self.fields(round=number, answer=asked.answer, right_device_ids=right, scores=scores),
        )
        await self.line(present, trivia.result_line(asked, [self.names[d] for d in right]))
        if number < len(questions):
            await self.line(present, trivia.standings_line(scores, self.names))

    async def _scores(self, upto: int, questions: list[Asked], users: dict[str, str]) -> dict[str, int]:
        results = [await self.board.result(n) for n in range(1, upto + 1)]
        chosen = [r.chosen for r in results if r is not None]
        rights = [questions[n - 1].right for n, r in enumerate(results, 1) if r is not None]
        scores = {d: 0 for d in self.activity.device_ids}
        scores.update({f"user:{u}": 0 for u in users.values()})
        for key, points in trivia.tally(chosen, rights, users).items():
            scores[key] = points
        return scores

    async def _users(self) -> dict[str, str]:
        """The user of the session each device left for the game, where it had one."""
        returns = self.activity.returns
        devices = [d for d in self.activity.device_ids if d in returns and returns[d].session_id]
        sessions = await self.store.get_sessions([returns[d].session_id or "" for d in devices])
        return {d: s.user_id for d, s in zip(devices, sessions, strict=True) if s is not None and s.user_id}
