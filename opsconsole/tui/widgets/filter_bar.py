"""The `/` filter: filters the active pane as you type; Escape clears it and closes."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    BINDINGS = [
        Binding("escape", "clear", "Clear filter", id="filter.clear"),
        Binding("enter", "done", "Keep filter", id="filter.done"),
    ]

    @dataclass
    class Closed(Message):
        """The filter bar closed; ``cleared`` when Escape emptied it."""

        cleared: bool

    def __init__(self, **kwargs) -> None:
        super().__init__(placeholder="filter: key, workflow, status, error…  (Enter keeps, Esc clears)", **kwargs)

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Closed(cleared=True))

    def action_done(self) -> None:
        self.post_message(self.Closed(cleared=False))
