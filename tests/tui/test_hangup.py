"""A console whose terminal has gone stops as if quit (opsconsole/tui/hangup.py)."""

from __future__ import annotations

import os
import pty

from opsconsole.tui.hangup import HangupWatch, terminal_gone
from tests.tui.test_panes import make_app, settle


def test_a_terminal_is_gone_once_its_other_end_closes():
    master, slave = pty.openpty()
    try:
        assert not terminal_gone(slave)
        os.close(master)
        assert terminal_gone(slave)
    finally:
        os.close(slave)
    r, w = os.pipe()
    try:
        assert terminal_gone(r)  # not a terminal at all: nothing to watch
    finally:
        os.close(r)
        os.close(w)


async def test_the_console_exits_when_its_terminal_hangs_up(seeded_services):
    master, slave = pty.openpty()
    app = make_app(seeded_services)
    app.hangup = HangupWatch(slave, every_s=3600)  # checked by hand below
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(app, pilot)
            assert app.hangup.check() is False and app.is_running
            os.close(master)
            master = None
            assert app.hangup.check() is True
            await pilot.pause()
        assert app.return_code == 1
    finally:
        if master is not None:
            os.close(master)
        os.close(slave)


def test_without_a_terminal_nothing_is_watched(monkeypatch):
    from opsconsole.tui import hangup

    class FakeApp:
        intervals: list = []

        def set_interval(self, seconds, callback, name=None):
            self.intervals.append((seconds, name))

    monkeypatch.setattr(hangup, "_stdin_tty", lambda: None)
    app = FakeApp()
    assert HangupWatch().start(app) is False and app.intervals == []
    master, slave = pty.openpty()
    try:
        assert HangupWatch(slave).start(app) is True and app.intervals == [(2.0, "hangup-watch")]
    finally:
        os.close(master)
        os.close(slave)
