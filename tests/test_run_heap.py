"""The freeze that keeps a run's full garbage collections short is held while any run is in flight."""

from __future__ import annotations

import gc
import weakref

from flows.run_heap import objects_before_runs_frozen


class Cycle:
    def __init__(self) -> None:
        self.me = self


def tracked(obj: object) -> bool:
    """Whether the collector walks `obj` (frozen objects are not in any generation)."""
    return any(candidate is obj for candidate in gc.get_objects())


def test_what_existed_before_the_first_run_is_frozen_until_the_last_run_ends() -> None:
    frozen_before = gc.get_freeze_count()
    before = Cycle()
    with objects_before_runs_frozen():
        assert gc.get_freeze_count() > frozen_before
        assert not tracked(before), "alive when the first run began: frozen"
        made_by_the_first = Cycle()
        with objects_before_runs_frozen():  # a second document narrated side by side
            assert tracked(made_by_the_first), "a neighbour's objects are not frozen by a later run"
        assert gc.get_freeze_count() > frozen_before, "the first run still holds the freeze"
    assert gc.get_freeze_count() == 0
    assert tracked(before) and tracked(made_by_the_first), "unfrozen: the collector walks them again"


def test_garbage_made_while_runs_overlap_is_collected_before_they_end() -> None:
    with objects_before_runs_frozen():
        with objects_before_runs_frozen():
            garbage = Cycle()
            alive = weakref.ref(garbage)
            del garbage
        with objects_before_runs_frozen():  # another run starts while the cycle is garbage
            gc.collect()
            assert alive() is None, "the cycle made during the runs is collected while they still run"


def test_the_freeze_ends_when_a_run_fails() -> None:
    try:
        with objects_before_runs_frozen():
            raise RuntimeError("the provider failed")
    except RuntimeError:
        pass
    assert gc.get_freeze_count() == 0
