"""The dashboard pane: throughput per workflow over the last hour (a sparkline of runs finished per
minute, succeeded, failed, failure rate, retries), open exceptions by age against their category's
SLA, and the business milestones.

Live like the tables: ``services.dashboard()`` runs in a thread (``LivePoll._load``) that posts a message back, one
fetch at a time, the timer re-armed after each, and no poll while the pane is hidden. Narrower than
``WIDE`` columns, the sections stack and the sparklines shrink.
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Sparkline, Static

from opsconsole.tui.fmt import age
from opsconsole.tui.messages import DashboardFailed, DashboardLoaded
from opsconsole.tui.safe import clean
from opsconsole.tui.widgets.live_poll import LivePoll
from opsconsole.viewmodels import BusinessMilestones, Dashboard, ExceptionAges, Throughput

WIDE = 124
"""From this width the exceptions and the milestones sit side by side."""
NARROW = 90
"""Below this width the workflow names take less room (the sparklines keep at least 8 columns)."""
SHORT = 20
"""Below this height (or width ``NARROW``) the sections drop their title lines where a header says it."""
ERROR = "$error"
MUTED = "$text-muted"


def failure_rate(rate: float | None) -> str:
    if rate is None:
        return "—"
    return f"{rate:.0f}%" if rate >= 10 or rate == 0 else f"{rate:.1f}%"


STATS_HEADER = f"{'succeeded':>9} {'failed':>6} {'failure rate':>12} {'retries':>7}"


def throughput_stats(t: Throughput) -> Content:
    """The numbers of one workflow's row, aligned under ``STATS_HEADER``."""
    return Content.assemble(
        f"{t.succeeded:>9} ", (f"{t.failed:>6}", ERROR if t.failed else ""), " ",
        (f"{failure_rate(t.failure_rate):>12}", ERROR if t.failed else ""), " ",
        (f"{t.retries:>7}", "$warning" if t.retries else ""))


SLA_COLUMNS = f" {'SLA':>4} {'within SLA':>10} {'nearing':>7} {'breached':>8}"


def exception_ages(rows: list[ExceptionAges], compact: bool = False) -> Content:
    """The exceptions section: a line per category (store text as plain text), breached in the error colour.
    Compact: no title line; the header says "open exceptions"."""
    lines: list[Content] = [] if compact else [
        Content.styled("Exceptions by age against SLA (open + acknowledged)", "bold")]
    lines.append(Content.styled(("open exceptions" if compact else "category").ljust(19) + SLA_COLUMNS,
                                "bold" if compact else MUTED))
    if not rows:
        lines.append(Content.styled("no open exceptions", MUTED))
    for row in rows:
        lines.append(Content.assemble(
            f"{clean(row.category)[:19]:<19} {age(row.sla_s):>4} ", (f"{row.within:>10}", ""), " ",
            (f"{row.nearing:>7}", "$warning" if row.nearing else ""), " ",
            (f"{row.breached:>8}", f"bold {ERROR}" if row.breached else "")))
    return Content("\n").join(lines)


def milestones(m: BusinessMilestones, compact: bool = False) -> Content:
    """The business milestones section (currencies and amounts from the store as plain text). Compact:
    the invoices overdue by days past due on the line of their total."""
    label = 32

    def line(name: str, value: int, style: str = "") -> Content:
        return Content.assemble(f"{name:<{label}}", (f"{value:>4}", style if value else ""))

    buckets = "  ".join(f"{bucket}: {n}" for bucket, n in m.invoices_overdue.items())
    amounts = " · ".join(f"{clean(currency)} {clean(amount)}" for currency, amount in m.overdue_amounts.items())
    lines = [
        Content.styled(f"Business milestones (as of {m.as_of.isoformat()})", "bold"),
        line("orders awaiting billing approval", m.orders_awaiting_billing_approval, "$warning"),
        Content.assemble(line("invoices overdue", m.invoices_overdue_total, ERROR), "  ", (buckets, MUTED))
        if compact else line("invoices overdue", m.invoices_overdue_total, ERROR),
        *([] if compact else [Content.assemble(f"{'  by days past due':<{label}}", (buckets, MUTED))]),
        Content.assemble(f"{'  amount due':<{label}}", amounts or Content.styled("none", MUTED)),
        line("onboardings delayed", m.onboardings_delayed, "$warning"),
        line("renewals blocked by payment", m.renewals_blocked_by_payment, ERROR),
    ]
    return Content("\n").join(lines)


class ThroughputRow(Horizontal):
    """One workflow: its name, the sparkline of runs finished per minute, and its numbers."""

    def __init__(self, throughput: Throughput, **kwargs: Any) -> None:
        super().__init__(classes="dash-row", **kwargs)
        self.throughput = throughput
        self.workflow = throughput.workflow

    def compose(self) -> ComposeResult:
        yield Static(Content(clean(self.workflow)), classes="dash-name", markup=False)
        yield Sparkline(self.throughput.per_minute, classes="dash-spark")
        yield Static(throughput_stats(self.throughput), classes="dash-stats", markup=False)

    def show(self, throughput: Throughput) -> None:
        if throughput == self.throughput:
            return
        self.throughput = throughput
        self.query_one(Sparkline).data = throughput.per_minute
        self.query_one(".dash-stats", Static).update(throughput_stats(throughput))

    @property
    def stats_text(self) -> str:
        """The numbers as shown (for tests and screen readers)."""
        return throughput_stats(self.throughput).plain


class DashboardView(LivePoll, VerticalScroll):
    """The dashboard pane (``services.dashboard()``), refreshed every ``refresh_s`` while shown."""

    PANE = "dashboard"

    def __init__(self, services: Any, *, refresh_s: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.services = services
        self._init_poll(refresh_s)
        self.dashboard: Dashboard | None = None

    def compose(self) -> ComposeResult:
        yield Static(Content.styled("Throughput per workflow, last 60 minutes", "bold"), id="dash-throughput-title")
        with Horizontal(classes="dash-row dash-header"):
            yield Static("workflow", classes="dash-name", markup=False)
            yield Static("runs finished per minute", classes="dash-spark-label", markup=False)
            yield Static(STATS_HEADER, classes="dash-stats", markup=False)
        yield Vertical(Static(Content.styled("loading…", MUTED), classes="dash-empty"), id="dash-rows")
        with Horizontal(id="dash-lower"):
            yield Static(id="dash-exceptions", markup=False)
            yield Static(id="dash-milestones", markup=False)

    # --- lifecycle: fetched when shown, then every refresh_s while shown ---------------------
    def on_mount(self) -> None:
        self._arm()  # hidden at start (Runs is the first pane shown): the first fetch is when it is shown

    def on_resize(self, event: events.Resize) -> None:
        width, height = event.size
        compact = width < NARROW or height < SHORT
        self.set_class(width >= WIDE, "-wide")
        self.set_class(width < NARROW, "-narrow")
        self.query_one(".dash-spark-label", Static).update(
            "finished per minute" if width < NARROW else "runs finished per minute")
        if compact != self.has_class("-compact"):
            self.set_class(compact, "-compact")
            self._render_sections()

    def _start(self) -> None:
        self._load(self._gen, self.services.dashboard, DashboardLoaded, DashboardFailed)

    def on_dashboard_failed(self, message: DashboardFailed) -> None:
        message.stop()
        if not self._returned(message.gen):
            return
        if message.error != self.last_problem:
            self.last_problem = message.error
            self.notify(message.error, title="dashboard: cannot load", severity="error", markup=False)
        self._arm()

    async def on_dashboard_loaded(self, message: DashboardLoaded) -> None:
        message.stop()
        if not self._returned(message.gen):
            return
        self.last_problem = ""
        await self.show(message.dashboard)
        self._arm()

    # --- rendering -----------------------------------------------------------------------------
    async def show(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        rows = self.query_one("#dash-rows", Vertical)
        current = list(rows.query_children(ThroughputRow))
        if [row.workflow for row in current] == [t.workflow for t in dashboard.throughput] and current:
            for row, throughput in zip(current, dashboard.throughput):
                row.show(throughput)
        else:  # the workflows changed: rebuild the rows (rare; the numbers are updated in place otherwise)
            await rows.remove_children()
            if dashboard.throughput:
                await rows.mount_all([ThroughputRow(t) for t in dashboard.throughput])
            else:
                await rows.mount(Static(Content.styled("no runs in the last hour", MUTED), classes="dash-empty"))
        self._render_sections()

    def _render_sections(self) -> None:
        if self.dashboard is None:
            return
        compact = self.has_class("-compact")
        self.query_one("#dash-exceptions", Static).update(exception_ages(self.dashboard.exceptions, compact))
        self.query_one("#dash-milestones", Static).update(milestones(self.dashboard.milestones, compact))

    def rows(self) -> list[ThroughputRow]:
        return list(self.query_one("#dash-rows", Vertical).query_children(ThroughputRow))
