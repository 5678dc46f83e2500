"""Replay of a run: a dry run first (what each step would send, and its diff), then confirm.

The plan comes from ``services.plan_replay`` in a thread worker (it reads the source systems over
the network). ``m`` toggles the mapping (original/current), ``[``/``]`` choose the step to replay
from; both re-plan. A plan with problems cannot be confirmed.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from opsconsole.services import ActionRefused
from opsconsole.tui.messages import ActionFailed, ActionRefusedNotice, CommandQueued, PlanFailed, PlanReady
from opsconsole.tui.safe import clean, pretty_json
from opsconsole.tui.widgets.engine_bar import EngineBar
from opsconsole.tui.widgets.keys_footer import KeysFooter
from opsconsole.viewmodels import PlannedStep, ReplayPlan

MAPPINGS = ("original", "current")
DIFF_STYLE = {"+": "green", "-": "red", "@": "dim"}


def verdict_style(verdict: str) -> str:
    if "skip" in verdict:
        return "dim"
    if "will be sent" in verdict:
        return "bold yellow"
    return "bold"


def diff_text(lines: list[str]) -> Text:
    text = Text()
    for line in lines:
        line = clean(line)
        text.append(line + "\n", style=DIFF_STYLE.get(line[:1], ""))
    return text


def planned_step(index: int, step: PlannedStep) -> Group:
    parts: list[Any] = [
        Text.assemble((f"{index}. ", "bold"), (clean(step.name), "bold"), "  ", clean(step.system), " ",
                      clean(step.operation), "  ", ("idempotency key ", "dim"), clean(step.idempotency_key)),
        Text.assemble(("   → ", "dim"), (clean(step.verdict), verdict_style(step.verdict))),
        Text("outbound payload", style="underline"), pretty_json(step.payload),
    ]
    if step.diff:
        parts += [Text("diff against the last sent", style="underline"), diff_text(step.diff)]
    elif step.previous is not None:
        parts.append(Text("no change from the last sent", style="dim"))
    parts.append(Text(""))
    return Group(*parts)


def plan_header(plan: ReplayPlan, mapping: str) -> Text:
    text = Text.assemble(
        ("replay run ", "bold"), (str(plan.run_id), "bold"), "  ", clean(plan.workflow), "  ", ("key ", "dim"),
        clean(plan.business_key), "\n", ("from step ", "dim"), (clean(plan.from_step), "bold cyan"), "  ",
        ("mapping ", "dim"), (mapping, "bold cyan"), f" (version {clean(plan.mapping_version)})",
    )
    if plan.step_names:
        text.append("\nsteps ", style="dim")
        for name in plan.step_names:
            text.append(" ")
            text.append(clean(name), style="reverse" if name == plan.from_step else "")
    return text


def problems_text(problems: list[str]) -> Text:
    text = Text("replay would fail validation — it cannot be confirmed:\n", style="bold")
    for problem in problems:
        text.append(f"  • {clean(problem)}\n")
    return text


class ReplayScreen(Screen):
    BINDINGS = [
        Binding("enter,y", "confirm", "Replay", id="replay.confirm"),
        Binding("m", "toggle_mapping", "Mapping", id="replay.mapping"),
        Binding("left_square_bracket", "step(-1)", "Prev step", key_display="[", id="replay.prev_step"),
        Binding("right_square_bracket", "step(1)", "Next step", key_display="]", id="replay.next_step"),
        Binding("escape", "cancel", "Cancel", id="replay.cancel"),
    ]

    def __init__(self, services: Any, run_id: int, *, from_step: str | None = None, mapping: str = "original",
                 read_only: bool = False) -> None:
        super().__init__()
        self.services = services
        self.run_id = run_id
        self.from_step = from_step
        self.mapping = mapping
        self.read_only = read_only
        self.plan: ReplayPlan | None = None
        self.planning = False
        self.submitting = False

    def compose(self) -> ComposeResult:
        yield EngineBar(id="engine-bar")
        yield Static(Text(f"replay run {self.run_id}: dry run…", style="bold"), id="replay-head")
        yield Static(id="replay-problems")
        with VerticalScroll(id="replay-plan"):
            yield Static(id="replay-steps")
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.query_one("#replay-problems").display = False
        self.query_one("#replay-plan").focus()
        self.replan()

    def replan(self) -> None:
        self.planning = True
        self.query_one("#replay-plan").loading = True
        self._plan(self.run_id, self.from_step, self.mapping)

    @work(thread=True, exclusive=True, group="replay-plan")
    def _plan(self, run_id: int, from_step: str | None, mapping: str) -> None:
        worker = get_current_worker()
        try:
            plan = self.services.plan_replay(run_id, from_step=from_step, mapping=mapping)
        except Exception as exc:
            if not worker.is_cancelled:
                self.post_message(PlanFailed(f"{type(exc).__name__}: {exc}"))
            return
        if not worker.is_cancelled:  # a newer plan (other mapping or step) was asked for
            self.post_message(PlanReady(plan, mapping))

    def on_plan_failed(self, message: PlanFailed) -> None:
        self.planning = False
        self.plan = None
        self.query_one("#replay-plan").loading = False
        self.query_one("#replay-head", Static).update(
            Text.assemble((f"replay run {self.run_id}: the dry run failed\n", "bold red"), clean(message.error)))
        self.query_one("#replay-steps", Static).update("")

    def on_plan_ready(self, message: PlanReady) -> None:
        self.planning = False
        self.plan = plan = message.plan
        self.from_step = plan.from_step
        self.query_one("#replay-plan").loading = False
        self.query_one("#replay-head", Static).update(plan_header(plan, self.mapping))
        problems = self.query_one("#replay-problems", Static)
        problems.display = bool(plan.problems)
        problems.update(problems_text(plan.problems) if plan.problems else "")
        steps: list[Any] = [planned_step(i + 1, step) for i, step in enumerate(plan.steps)]
        if not steps:
            steps = [Text("nothing to send from this step", style="dim")]
        self.query_one("#replay-steps", Static).update(Group(*steps))

    # --- keys --------------------------------------------------------------------------------------
    def action_toggle_mapping(self) -> None:
        self.mapping = MAPPINGS[(MAPPINGS.index(self.mapping) + 1) % len(MAPPINGS)]
        self.replan()

    def action_step(self, delta: int) -> None:
        if self.plan is None or not self.plan.step_names:
            return
        names = self.plan.step_names
        index = names.index(self.plan.from_step) if self.plan.from_step in names else 0
        new = max(0, min(len(names) - 1, index + delta))
        if names[new] != self.plan.from_step:
            self.from_step = names[new]
            self.replan()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_confirm(self) -> None:
        if self.read_only:
            self.notify("read-only console: replay is disabled", severity="warning", markup=False)
            return
        if self.planning or self.plan is None:
            self.notify("the dry run is not ready yet", severity="warning", markup=False)
            return
        if self.plan.problems:
            self.notify("replay would fail validation: " + "; ".join(clean(p) for p in self.plan.problems),
                        title="cannot replay", severity="error", markup=False)
            return
        if not self.submitting:
            self.submitting = True
            self._replay(self.plan.run_id, self.plan.from_step, self.mapping)

    @work(thread=True, exclusive=True, group="replay-submit")
    def _replay(self, run_id: int, from_step: str, mapping: str) -> None:
        try:
            receipt = self.services.replay(run_id, from_step, mapping)
        except ActionRefused as exc:
            self.post_message(ActionRefusedNotice(str(exc)))
            return
        except Exception as exc:
            self.post_message(ActionFailed("replay failed", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(CommandQueued(receipt))

    def on_action_refused_notice(self, message: ActionRefusedNotice) -> None:
        message.stop()
        self.submitting = False
        self.notify(clean(message.message), title="refused", severity="warning", markup=False)

    def on_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        self.submitting = False
        self.notify(clean(message.error), title=message.title, severity="error", markup=False)

    def on_command_queued(self, message: CommandQueued) -> None:
        message.stop()
        self.app.track_command(message.receipt)  # type: ignore[attr-defined]
        self.dismiss(message.receipt)
