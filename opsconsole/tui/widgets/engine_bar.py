"""The top line: the console's name, the host's engine label, and the live engine lease."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from opsconsole.tui.fmt import age
from opsconsole.tui.safe import clean
from opsconsole.viewmodels import EngineStatus


def engine_text(label: str, engine: EngineStatus | None) -> Text:
    text = Text.assemble(("opsconsole", "bold"), "  ", clean(label))
    if engine is None:
        return text
    text.append("  │  ", style="dim")
    if engine.mode == "none" or not engine.holder:
        text.append("no engine holds the lease", style="bold red")
    elif engine.alive:
        text.append("● ", style="green")
        text.append(f"lease {clean(engine.holder)}")
    else:
        text.append("✖ ", style="bold red")
        text.append(f"lease {clean(engine.holder)} expired {age(-engine.expires_in_s)} ago", style="red")
    return text


class EngineBar(Static):
    """Shows ``app.engine_label`` and, refreshed live, ``services.engine_status()``."""

    def on_mount(self) -> None:
        self.watch(self.app, "engine", self._show, init=True)

    def _show(self, engine: EngineStatus | None) -> None:
        self.update(engine_text(getattr(self.app, "engine_label", ""), engine))
