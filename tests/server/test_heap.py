"""`serve`'s start-up leaves nothing it built for the garbage collector to walk again (server/heap.py).

A full collection walks every tracked object that is not frozen and stops the event loop meanwhile:
with the start-up heap (libraries, models, voices, the persona library, the services) in view, every
device's audio stalled for the length of that walk, again and again."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.app import create_app
from tests.support.live_server import make_settings


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """The test process's collector as it was: nothing left frozen, the thresholds put back."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def walked(*objects: object) -> list[bool]:
    """For each object, whether a collection would walk it now."""
    ids = {id(o) for o in gc.get_objects()}
    return [id(o) in ids for o in objects]


async def test_what_start_up_built_is_frozen_after_it(tmp_path: Path, collector_restored: None) -> None:
    app = create_app(make_settings(tmp_path), settle_heap=True)
    async with app.lifespan():
        services = app.state["services"]
        built = (services, services.store, services.personas, services.tokens, services.devices)
        assert all(gc.is_tracked(o) for o in built)
        assert walked(*built) == [False] * len(built)
        assert gc.get_threshold()[0] > 700  # young collections less often than CPython's default

        later: list[object] = [[]]  # a list is always tracked
        assert walked(later) == [True]  # what comes later is collected as usual
    assert gc.get_freeze_count() > 0


async def test_an_app_that_is_not_the_server_leaves_the_collector_alone(
    tmp_path: Path, collector_restored: None
) -> None:
    frozen = gc.get_freeze_count()
    app = create_app(make_settings(tmp_path))
    async with app.lifespan():
        assert walked(app.state["services"]) == [True]
    assert gc.get_freeze_count() == frozen
