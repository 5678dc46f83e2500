"""Asks for a line of text (a note for finance, the reason of a rejection) before an action."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from opsconsole.tui.safe import plain


class NoteScreen(ModalScreen[str | None]):
    """Dismisses with the text typed (stripped), or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="note.cancel")]

    def __init__(self, question: str, detail: str = "", *, required: str = "") -> None:
        """
        Args:
            question: what is asked.
            detail: a line under it.
            required: when not empty, the text is required and this says so if it is left empty.
        """
        super().__init__()
        self.question = question
        self.detail = detail
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(id="note-box"):
            yield Static(plain(self.question, style="bold"), id="note-question")
            if self.detail:
                yield Static(plain(self.detail, oneline=False), id="note-detail")
            yield Input(placeholder="required" if self.required else "optional", id="note-input")
            yield Static(Text.assemble(("Enter", "bold"), " continue   ", ("Esc", "bold"), " cancel"), id="note-keys")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if self.required and not text:
            self.notify(self.required, title="required", severity="warning", markup=False)
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)
