"""The top line: the console's name, the host's engine label, and the live engine lease."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from opsconsole.tui.fmt import age
from opsconsole.tui.safe import clean
from opsconsole.viewmodels import EngineStatus


def lease_text(engine: EngineStatus | None) -> Text:
    if engine is None:
        return Text("lease …", style="dim")
    if engine.mode == "none" or not engine.holder:
        return Text("✖ no engine holds the lease", style="bold red")
    if engine.alive:
        return Text.assemble(("● ", "green"), f"lease {clean(engine.holder)}")
    if engine.released:
        return Text(f"✖ no engine: {clean(engine.holder)} stopped and released the lease", style="bold red")
    return Text(f"✖ lease {clean(engine.holder)} expired {age(-engine.expires_in_s)} ago", style="bold red")


def engine_text(label: str, engine: EngineStatus | None, width: int = 0) -> Text:
    """The label, then the lease: on the same line when it fits, else on the next (never split)."""
    text = Text.assemble(("opsconsole", "bold"), "  ", clean(label))
    lease = lease_text(engine)
    if width and text.cell_len + 3 + lease.cell_len > width:
        text.append("\n")
    else:
        text.append(" │ ", style="dim")
    text.append_text(lease)
    return text


class EngineBar(Widget):
    """Shows ``app.engine_label`` and, refreshed live, ``services.engine_status()``."""

    DEFAULT_CSS = "EngineBar { height: auto; }"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.engine: EngineStatus | None = None

    def on_mount(self) -> None:
        self.watch(self.app, "engine", self._show, init=True)

    def _show(self, engine: EngineStatus | None) -> None:
        self.engine = engine
        self.refresh(layout=True)

    def render(self) -> Text:
        return engine_text(getattr(self.app, "engine_label", ""), self.engine, self.content_size.width)
