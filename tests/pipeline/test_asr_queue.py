"""The shared recogniser's queue: fair share between owners (no model: the queue itself, with real jobs)."""

from __future__ import annotations

import time

import numpy as np

from pipeline.engines.asr_queue import BatchQueue, Job
from server.voice.dialog_audio import PIECE_S, pieces


def _job(name: str, *, owner: str | None, cost: float = 8.0) -> Job[str, str]:
    return Job(payload=name, key=None, owner=owner, cost=cost)


def _order(queue: BatchQueue[str, str], count: int) -> list[str]:
    taken = []
    for _ in range(count):
        batch = queue.take()
        assert batch is not None
        taken += [job.payload for job in batch]
    return taken


def test_a_device_queueing_recording_after_recording_waits_behind_another_devices_turn() -> None:
    queue: BatchQueue[str, str] = BatchQueue(max_batch=4)
    for n in range(4):
        queue.put(_job(f"flood-{n}", owner="dev_flood"))
    assert _order(queue, 1) == ["flood-0"]  # running: a job is never interrupted
    queue.put(_job("live turn", owner=None, cost=2.0))  # another device's spoken turn, queued last
    queue.put(_job("other device", owner="dev_other", cost=3.0))
    assert _order(queue, 5) == ["live turn", "other device", "flood-1", "flood-2", "flood-3"]


def test_alone_on_the_recogniser_an_owner_is_served_in_order() -> None:
    queue: BatchQueue[str, str] = BatchQueue(max_batch=4)
    for n in range(3):
        queue.put(_job(f"rec-{n}", owner="dev_a"))
    assert _order(queue, 3) == ["rec-0", "rec-1", "rec-2"]


def test_the_least_used_owner_goes_first_and_use_is_forgotten_over_time() -> None:
    queue: BatchQueue[str, str] = BatchQueue(max_batch=4, share_half_life_s=0.1)
    queue.put(_job("a-0", owner="dev_a", cost=20.0))
    assert _order(queue, 1) == ["a-0"]
    assert queue.used("dev_a") > 0
    queue.put(_job("a-1", owner="dev_a", cost=1.0))
    queue.put(_job("b-0", owner="dev_b", cost=1.0))
    assert _order(queue, 2) == ["b-0", "a-1"]
    deadline = time.perf_counter() + 5
    while queue.used("dev_a") > 1e-3 and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert queue.used("dev_a") <= 1e-3  # an owner's use decays: after a quiet spell it is served as new


def test_a_recording_is_cut_into_pieces_the_recogniser_takes_one_at_a_time() -> None:
    rate = 16_000
    rng = np.random.default_rng(7)
    speech = rng.normal(0, 0.3, size=int(29.5 * rate)).astype(np.float32)
    speech[int(7.0 * rate) : int(7.2 * rate)] = 0.0  # a pause between words, before the first limit
    cut = pieces(speech, rate)
    assert all(len(p) <= PIECE_S * rate for p in cut)
    assert all(len(p) >= (PIECE_S - 2) * rate for p in cut[:-1])  # cut in the last 2 s before the limit
    assert len(cut) >= 4
    assert np.array_equal(np.concatenate(cut), speech)  # nothing lost, nothing doubled
    assert 7.0 * rate <= len(cut[0]) <= 7.2 * rate  # cut in the pause
    assert pieces(speech[: 5 * rate], rate)[0].shape == (5 * rate,)
