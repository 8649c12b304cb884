"""The freeze that keeps a run's full garbage collections short is held while any run is in flight."""

from __future__ import annotations

import gc

from flows.run_heap import objects_before_runs_frozen


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_objects_are_frozen_while_runs_overlap_and_collectable_after_the_last_ends() -> None:
    assert gc.get_freeze_count() == 0
    before = Cycle()
    with objects_before_runs_frozen():
        assert gc.get_freeze_count() > 0
        assert not any(obj is before for obj in gc.get_objects()), "alive when the run began: frozen"
        made_by_the_first = Cycle()
        assert any(obj is made_by_the_first for obj in gc.get_objects()), "a run's own objects are collected as usual"
        with objects_before_runs_frozen():  # a second document narrated side by side
            assert not any(obj is made_by_the_first for obj in gc.get_objects())
        assert gc.get_freeze_count() > 0, "the first run still holds the freeze"
    assert gc.get_freeze_count() == 0
    seen = [obj for obj in gc.get_objects() if obj is before or obj is made_by_the_first]
    assert len(seen) == 2, "unfrozen: the collector sees them again"
    del before, made_by_the_first, seen
    assert gc.collect() >= 2  # the two cycles are garbage the collector can reach


def test_the_freeze_ends_when_a_run_fails() -> None:
    try:
        with objects_before_runs_frozen():
            raise RuntimeError("the provider failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
