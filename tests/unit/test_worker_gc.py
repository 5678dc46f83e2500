"""The worker's collector settings (opsconsole/engine/host.py)."""

from __future__ import annotations

import gc

from opsconsole.engine.host import GC_THRESHOLDS, tune_gc


def test_tune_gc_freezes_start_up_objects_and_raises_the_thresholds():
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 1000  # the imported modules' objects at least
        # cyclic garbage made afterwards is still collected
        a, b = [], []
        a.append(b)
        b.append(a)
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
