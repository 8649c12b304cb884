"""The heap is frozen for the collector while runs are in progress, and given back to it after the last."""

from __future__ import annotations

import gc
import weakref

from flows.heap import existing_objects_left_out_of_collection


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def test_what_exists_before_a_run_is_skipped_until_the_last_run_ends():
    gc.collect()
    waiting = Node()  # garbage already waiting for a collection when the runs begin
    dead = weakref.ref(waiting)
    del waiting
    with existing_objects_left_out_of_collection():
        assert gc.get_freeze_count() > 0
        with existing_objects_left_out_of_collection():  # a second run in the same process
            made_in_run = Node()
            collected_in_run = weakref.ref(made_in_run)
            del made_in_run
            gc.collect()
            assert collected_in_run() is None  # the run's own garbage is collected as usual
            assert dead() is not None  # frozen with the rest
        assert gc.get_freeze_count() > 0  # the first run still goes on
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert dead() is None
