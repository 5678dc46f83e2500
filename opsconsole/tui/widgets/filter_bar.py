"""The `/` filter: filters the active pane as you type; Escape clears it and closes."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
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

    def show_error(self, error: str) -> None:
        """Say what is wrong with the text typed (e.g. "age: use >1h, <30m, >2d") under it, in red;
        "" clears it."""
        from rich.text import Text

        self.set_class(bool(error), "-filter-error")
        self.border_subtitle = Text(error) if error else None

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_error("")  # the pane that checks its filter (exceptions) says again if it is wrong

    def action_clear(self) -> None:
        self.value = ""
        self.post_message(self.Closed(cleared=True))

    def action_done(self) -> None:
        self.post_message(self.Closed(cleared=False))


class FilterMatches(Widget):
    """Beside the filter bar while it is open: how many rows the filter matches ("43 matching").
    A fixed width and a plain repaint: no relayout on a keystroke."""

    DEFAULT_CSS = "FilterMatches { width: 32; height: 1; background: $panel; color: $text-muted; }"

    text: reactive[str] = reactive("", layout=False)

    def render(self) -> Text:
        return Text(self.text, no_wrap=True, overflow="ellipsis", justify="right")
