"""`?`: every key binding of the console, as remapped by the keymap."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def bindings_table(sections: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> Table:
    table = Table(box=None, pad_edge=False, expand=False, show_header=True, header_style="bold")
    table.add_column("where")
    table.add_column("key", style="bold cyan")
    table.add_column("does")
    table.add_column("binding id", style="dim")
    for where, bindings in sections:
        for binding in bindings:
            keys = keymap.get(binding.id or "", binding.key)
            shown = binding.key_display if binding.key_display and binding.id not in keymap else keys
            table.add_row(Text(where), Text(shown), Text(binding.description or binding.action), Text(binding.id or ""))
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]], keymap: dict[str, str]) -> None:
        super().__init__()
        self.sections = sections
        self.keymap = keymap

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(Text("opsconsole — keys", style="bold"))
            yield Static(bindings_table(self.sections, self.keymap))
            yield Static(Text("ctrl+p opens the command palette (commands are named 'area: verb')", style="dim"))

    def action_close(self) -> None:
        self.dismiss(None)
