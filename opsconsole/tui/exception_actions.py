"""The operator verbs on exceptions — acknowledge, assign, resolve (and retry of marked ones) — the
same from the exceptions pane, its detail screen and the command palette.

Each is refused early, with the reason, when the console knows it cannot be done (read-only, no
support role, a state the verb does not apply to); assign asks whom (a known operator), resolve asks
why (required). With marked rows the verb applies to all of them: the store counts the selection
first and the confirm screen previews it ("Resolve 37 exceptions (validation: 30, rate_limit: 7)?");
then ONE command is written, which the engine executes in batches.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual.binding import Binding

from opsconsole.exception_services import preview_detail, preview_question
from opsconsole.services import ActionRefused
from opsconsole.tui.messages import ActionFailed
from opsconsole.tui.safe import clean
from opsconsole.tui.submit import submit_in_worker
from opsconsole.viewmodels import BulkPreview, CommandReceipt, CommandState, ExceptionRow

VERB_BINDINGS = [
    Binding("a", "exception('acknowledge')", "Ack", id="exceptions.acknowledge"),
    Binding("A", "exception('assign')", "Assign", id="exceptions.assign"),
    Binding("R", "exception('resolve')", "Resolve", id="exceptions.resolve"),
]
"""On the pane and on the detail screen (the same objects: one keymap entry remaps both)."""


def refusal(app: Any, verb: str, row: ExceptionRow | None) -> str | None:
    """Why ``verb`` cannot be asked for now (None when it can); ``row`` None means marked rows."""
    if app.read_only:
        return f"read-only console: {verb} is disabled"
    why = app.services.why_not_support()
    if why:
        return why if "read-only" in why else f"not yours to {verb}: {why}"
    if row is None:
        return None
    if verb == "acknowledge" and row.state != "open":
        owner = f" (owner {clean(row.owner)})" if row.owner else ""
        return f"exception {row.id} is already {row.state}{owner}: nothing to acknowledge"
    if verb in ("assign", "resolve") and row.state not in ("open", "acknowledged"):
        return f"exception {row.id} is {row.state}: nothing to {verb}"
    return None


def _refuse(app: Any, why: str) -> None:
    app.notify(clean(why), title="refused", severity="warning", markup=False)


def act(app: Any, verb: str, row: ExceptionRow | None, table: Any = None) -> None:
    """Ask for ``verb`` on ``row``, or on ``table``'s marked rows when it has any."""
    marked = table is not None and table.has_marks
    if not marked and row is None:
        app.notify("select an exception first (2 shows the exceptions)", severity="warning", markup=False)
        return
    why = refusal(app, verb, None if marked else row)
    if why:
        _refuse(app, why)
        return
    if verb == "acknowledge":
        if marked:
            _bulk(app, table, verb)
        else:
            _submit_in_worker(app, partial(app.services.acknowledge, row.id), "acknowledge failed")  # type: ignore[union-attr]
    elif verb == "assign":
        _ask_assignee(app, row, table if marked else None)
    elif verb == "resolve":
        _ask_reason(app, row, table if marked else None)
    elif verb in ("retry", "replay") and marked:
        _bulk(app, table, verb)


def _ask_assignee(app: Any, row: ExceptionRow | None, table: Any) -> None:
    from opsconsole.tui.screens.note import NoteScreen

    me = app.services.operator
    known = ", ".join(app.services.known_operators()) or "nobody"
    what = "the marked exceptions" if table is not None else f"exception {row.id}"  # type: ignore[union-attr]

    def answered(name: str | None) -> None:
        if name is None:
            return
        try:
            who = app.services.check_assignee(name)
        except ActionRefused as exc:
            _refuse(app, str(exc))
            return
        if table is not None:
            _bulk(app, table, "assign", to=who)
        else:
            _submit_in_worker(app, partial(app.services.assign, row.id, who), "assign failed")  # type: ignore[union-attr]

    app.push_screen(NoteScreen(f"Assign {what} to whom?", f"Enter alone: yourself ({clean(me)}). Known: {clean(known)}"),
                    answered)


def _ask_reason(app: Any, row: ExceptionRow | None, table: Any) -> None:
    from opsconsole.tui.screens.note import NoteScreen

    what = "the marked exceptions" if table is not None else f"exception {row.id}"  # type: ignore[union-attr]

    def answered(reason: str | None) -> None:
        if reason is None:
            return
        if table is not None:
            _bulk(app, table, "resolve", reason=reason)
        else:
            _submit_in_worker(app, partial(app.services.resolve, row.id, reason), "resolve failed")  # type: ignore[union-attr]

    app.push_screen(NoteScreen(f"Resolve {what}: why?", "The reason is required; it goes to the audit log.",
                               required="resolving needs a reason"), answered)


# --- bulk: count, preview, confirm, one command ---------------------------------------------------
def _bulk(app: Any, table: Any, verb: str, *, reason: str = "", to: str | None = None) -> None:
    selection = table.selection_args()

    def count() -> None:  # a thread worker: the store counts the selection
        try:
            preview = app.services.bulk_preview(**selection)
        except Exception as exc:
            app.post_message(ActionFailed(f"{verb} failed", f"{type(exc).__name__}: {exc}"))
            return
        app.call_from_thread(_confirm_bulk, app, table, verb, preview, reason, to)

    app.run_worker(count, thread=True, group="exceptions-bulk")


def bulk_detail(verb: str, preview: BulkPreview, reason: str = "", to: str | None = None) -> str:
    lines = preview_detail(verb, preview, reason=reason, to=to)
    if verb == "replay":
        lines.append("(`opsconsole replay --filter` chooses the step and the mapping.)")
    lines.append("One command; the engine works through it in batches (n of N), even if this console closes.")
    return "\n".join(lines)


def _confirm_bulk(app: Any, table: Any, verb: str, preview: BulkPreview, reason: str, to: str | None) -> None:
    from opsconsole.tui.screens.confirm import ConfirmScreen

    if preview.total == 0:
        _refuse(app, "none of the marked exceptions exists any more")
        return

    def answered(yes: bool | None) -> None:
        if yes:
            table.clear_marks()
            _submit_in_worker(app, partial(app.services.bulk, verb, preview, reason=reason, to=to), f"{verb} failed")

    app.push_screen(ConfirmScreen(preview_question(verb, preview), bulk_detail(verb, preview, reason, to)), answered)


# --- queue ------------------------------------------------------------------------------------------
def _submit_in_worker(app: Any, call: Callable[[], CommandReceipt], title: str) -> None:
    submit_in_worker(app, call, title, "exceptions-action")


# --- progress of bulk commands (the app polls every command it queued) ------------------------------
def track_progress(app: Any, state: CommandState) -> None:
    """Keep the running bulk commands' "n of N" where the exceptions pane's hint line shows it."""
    progress: dict[int, CommandState] = app.__dict__.setdefault("exception_commands", {})
    if not state.kind.startswith("bulk_"):
        return
    if state.status in ("queued", "running"):
        progress[state.command_id] = state
    else:
        progress.pop(state.command_id, None)
    for screen in app.screen_stack:
        update = getattr(screen, "_update_hint", None)
        if update is not None and getattr(screen, "id", "") == "main":
            update("exceptions")


def progress_text(app: Any) -> str:
    states = list(getattr(app, "exception_commands", {}).values())
    return " · ".join(f"command {s.command_id} {s.kind.removeprefix('bulk_')}: {clean(s.result) or 'queued'}"
                      for s in states)

