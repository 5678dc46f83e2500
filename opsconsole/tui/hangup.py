"""A console whose terminal has gone stops as if it had been quit.

When an SSH connection or a tmux pane closes, the console is meant to get SIGHUP and stop. It does
not always get one: a tmux server that is killed closes its terminals without signalling the
programs in them. Left running, the console keeps the engine's lease with nobody watching it, and
Textual's input thread spins on the terminal's end of file at about half a core. Every few seconds
the console asks the terminal for its attributes: once that fails with an I/O error the terminal
has gone, and the console exits the ordinary way (the engine drains and releases its lease).
"""

from __future__ import annotations

import logging
import os
import sys
import termios
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from textual.app import App

log = logging.getLogger(__name__)

EVERY_S = 2.0


def terminal_gone(fd: int) -> bool:
    """Whether the terminal on ``fd`` has hung up (its attributes can no longer be read)."""
    try:
        termios.tcgetattr(fd)
    except (termios.error, OSError):
        return True
    return False


def _stdin_tty() -> int | None:
    stream = sys.__stdin__
    try:
        fd = stream.fileno() if stream is not None else None
    except (ValueError, OSError):  # closed or not a real file (tests)
        return None
    return fd if fd is not None and os.isatty(fd) else None


class HangupWatch:
    """Exits ``app`` once the terminal on ``fd`` (by default the console's own, if it has one) is gone."""

    def __init__(self, fd: int | None = None, *, every_s: float = EVERY_S) -> None:
        self.fd = fd
        self.every_s = every_s
        self.app: App | None = None

    def start(self, app: App) -> bool:
        """Watch from now on; False when there is no terminal to watch (a headless test, a pipe)."""
        if self.fd is None:
            self.fd = _stdin_tty()
        if self.fd is None:
            return False
        self.app = app
        app.set_interval(self.every_s, self.check, name="hangup-watch")
        return True

    def check(self) -> bool:
        """Exit the app if the terminal has gone; returns whether it had."""
        if self.app is None or self.fd is None or not terminal_gone(self.fd):
            return False
        log.warning("the console's terminal has gone: stopping as if quit")
        self.app.exit(return_code=1)
        return True
