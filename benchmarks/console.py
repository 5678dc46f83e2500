"""The console on a large store (``make bench``'s ``console`` section), measured through the console
itself: the real app, headless (Textual's ``run_test``), over a store of 1,000,000 runs and 100,000
exceptions (benchmarks/console_store.py).

- ``paint_ms``: per pane, from the key that shows it to the first paint that repainted the pane
  after it showed its fresh data (its fetch returned and was applied); the first pane (Runs) from
  the app's start;
- ``filter_ms``: on the Runs pane, from a keystroke in the `/` filter to the table updated, the
  median over the keystrokes of a search term (``filter_ms_max`` the slowest, ``filter_ms_each``
  every keystroke's);
- ``peak_rss_mb``: this process's peak resident memory (the probe runs in its own process, so the
  store's building is not counted).

``python -m benchmarks.console`` prints the section's JSON.
"""

from __future__ import annotations

import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TERM = "QU-0999"  # typed one key at a time; matches a few hundred runs' errors
SIZE = (120, 35)


PAINTS: list[tuple[float, frozenset, bool]] = []
"""Each screen refresh (a paint): when it finished, the widgets it repainted, whether it was whole."""


def _patch_load_marks() -> None:
    """Record, on each pane, the generation of the last fetch it has shown and when, and every
    paint: a figure is the time from the key to the first paint after the pane showed its data
    (not to ``pilot.press`` returning, which also waits for the app to go idle)."""
    from textual.screen import Screen

    from opsconsole.tui.widgets.live_table import LiveTable

    refresh = Screen._compositor_refresh

    def _compositor_refresh(self):
        dirty, whole = frozenset(self._dirty_widgets), self in self._dirty_widgets
        out = refresh(self)
        PAINTS.append((time.perf_counter(), dirty, whole))
        return out

    Screen._compositor_refresh = _compositor_refresh
    original = LiveTable.on_page_loaded

    def on_page_loaded(self, message):
        original(self, message)
        self.bench_shown, self.bench_at = message.gen, time.perf_counter()

    LiveTable.on_page_loaded = on_page_loaded
    try:
        from opsconsole.tui.widgets.dashboard import DashboardView
    except ImportError:
        return
    original_dash = DashboardView.on_dashboard_loaded

    async def on_dashboard_loaded(self, message):
        await original_dash(self, message)
        self.bench_shown, self.bench_at = message.gen, time.perf_counter()

    DashboardView.on_dashboard_loaded = on_dashboard_loaded


def _pending(screen) -> bool:
    """Whether anything on ``screen`` still waits to be handled or painted."""
    if screen._dirty_widgets or screen._layout_required or not screen.app._message_queue.empty():
        return True
    return any(w._repaint_required or w._layout_required or not w._message_queue.empty()
               for w in screen.walk_children(with_self=True))


async def _shown(pilot, widget, gen: int, t0: float, timeout: float = 30.0) -> float:
    """Milliseconds from ``t0`` to the first paint after ``widget`` showed fetch ``gen`` or later;
    if showing it changed nothing on screen (the same rows as before), to when it was shown: no
    paint follows then (waiting for one would time the cursor's next blink)."""
    deadline = time.perf_counter() + timeout
    quiet = 0
    mine = {widget, *widget.ancestors_with_self}
    while True:
        if getattr(widget, "bench_shown", -1) >= gen:
            # a paint that repainted the pane (or something holding it), not just any refresh
            painted = [at for at, dirty, whole in PAINTS if at > widget.bench_at and (whole or dirty & mine)]
            if painted:
                return (min(painted) - t0) * 1000
            quiet = 0 if _pending(widget.screen) else quiet + 1
            if quiet >= 3:
                return (widget.bench_at - t0) * 1000
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{widget.id} did not show fetch {gen} within {timeout}s")
        await asyncio.sleep(0.001)


async def _probe(db: Path) -> dict:
    from opsconsole.services import Services
    from opsconsole.settings import load_settings
    from opsconsole.tui.app import OpsConsoleApp
    from opsconsole.tui.screens.main import PANES

    with tempfile.TemporaryDirectory() as var:
        settings = load_settings(None, store_url=f"sqlite:///{db}", var_dir=Path(var), audit_key="bench-audit-key")
        services = Services(settings, operator="bench", read_only=True)
        app = OpsConsoleApp(services, engine_label="bench: no engine", read_only=True, refresh_s=3600)
        paint: dict[str, float] = {}
        filter_ms: list[float] = []
        started = time.perf_counter()
        async with app.run_test(size=SIZE) as pilot:
            main = app.screen
            runs = main.query_one("#runs-table")
            paint["runs"] = await _shown(pilot, runs, runs._gen, started)
            for pane in [p for p in PANES if p != "runs"] + ["runs"]:
                widget = main.pane_widget(pane)
                gen = getattr(widget, "_gen", 0)
                t0 = time.perf_counter()
                await pilot.press(PANES[pane].split()[0])
                took = await _shown(pilot, widget, gen + 1, t0)
                if pane != "runs":
                    paint[pane] = took
            await pilot.press("slash")
            await pilot.pause()
            for ch in TERM:
                gen = runs._gen
                t0 = time.perf_counter()
                await pilot.press(ch if ch != "-" else "minus")
                filter_ms.append(await _shown(pilot, runs, gen + 1, t0))
            rows = runs.row_total
        services.close()
    return {"paint_ms": {k: round(v, 1) for k, v in paint.items()},
            "filter_ms": round(statistics.median(filter_ms), 1), "filter_ms_max": round(max(filter_ms), 1),
            "filter_ms_each": [round(x, 1) for x in filter_ms],
            "filter_rows": rows,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def run() -> dict:
    """Build (or reuse) the large store, then probe the console in a process of its own."""
    from benchmarks.console_store import EXCEPTIONS, RUNS, build

    t0 = time.perf_counter()
    db = build(RESULTS)
    built_s = time.perf_counter() - t0
    out = subprocess.run([sys.executable, "-m", "benchmarks.console", "--probe", str(db)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"console probe failed: {out.stderr[-2000:]}")
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    return {**figures, "store": {"runs": RUNS, "exceptions": EXCEPTIONS, "build_s": round(built_s, 1),
                                 "size_mb": round(db.stat().st_size / 2**20)}, "terminal": f"{SIZE[0]}x{SIZE[1]}"}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        _patch_load_marks()
        print(json.dumps(asyncio.run(_probe(Path(sys.argv[2])))))
        return
    print(json.dumps({"console": run()}, indent=2))


if __name__ == "__main__":
    main()
