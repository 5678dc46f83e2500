"""The console's full garbage collections wait for a pause in the typing (opsconsole/tui/idle_gc.py)."""

from __future__ import annotations

import gc

import pytest

from opsconsole.tui import idle_gc
from opsconsole.tui.idle_gc import IdleCollector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeApp:
    def __init__(self) -> None:
        self.intervals: list[tuple[float, object]] = []

    def set_interval(self, seconds, callback, name=None):
        self.intervals.append((seconds, callback))


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(idle_gc.time, "monotonic", c)
    return c


def test_full_collections_wait_for_idle_and_never_wait_forever(clock, monkeypatch):
    collected: list[int] = []
    monkeypatch.setattr(idle_gc.gc, "collect", lambda *a: collected.append(1) or 0)
    before = gc.get_threshold()
    collector, app = IdleCollector(), FakeApp()
    collector.start(app)
    try:
        assert app.intervals == [(idle_gc.IDLE_S, collector.tick)]
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > 10**6  # no automatic full ones
        clock.now += idle_gc.EVERY_S - 1
        collector.tick()
        assert collected == []  # too soon
        clock.now += 1
        collector.input()  # a key just now
        collector.tick()
        assert collected == []  # due, but the operator is typing
        clock.now += idle_gc.IDLE_S
        collector.tick()
        assert collected == [1] and collector.full_collections == 1
        for _ in range(int(idle_gc.AT_MOST_S)):  # typing without a pause for AT_MOST_S
            clock.now += 1
            collector.input()
            collector.tick()
        assert collected == [1, 1]  # collected anyway, once
    finally:
        collector.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
