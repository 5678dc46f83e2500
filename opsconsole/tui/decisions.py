"""Decisions on conflicts and corrections, the same from a pane and from a detail screen.

Each one is refused early, with the reason, when the console knows it cannot be done (read-only,
a billing-impacting field to take, a correction that is not the operator's to decide); otherwise
it asks for a note or a reason where one is wanted, previews what will happen in the confirm
screen, and writes the command in a thread worker. The app then tracks the command until the
engine has executed it (which re-checks everything, maker-checker included).
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any, Callable

from textual.binding import Binding

from opsconsole.tui.fmt import trunc
from opsconsole.tui.safe import clean
from opsconsole.tui.submit import submit_in_worker
from opsconsole.viewmodels import CommandReceipt, ConflictRow, CorrectionRow

CONFLICT_BINDINGS = [
    Binding("k", "resolve('keep')", "Keep", id="conflicts.keep"),
    Binding("t", "resolve('take')", "Take", id="conflicts.take"),
    Binding("c", "resolve('correction')", "Correction", id="conflicts.correction"),
    Binding("l", "resolve('link')", "Link", id="conflicts.link"),
    Binding("s", "resolve('separate')", "Separate", id="conflicts.separate"),
]
APPROVAL_BINDINGS = [
    Binding("a", "decide('approve')", "Approve", id="approvals.approve"),
    Binding("r", "decide('reject')", "Reject", id="approvals.reject"),
]
RESOLUTIONS = {"ownership": ("keep", "take", "correction"), "duplicate": ("link", "separate")}
"""What resolves each kind of conflict (the engine holds the same rule and re-checks it)."""
VERBS = {"keep": "keep", "take": "take", "correction": "raise correction", "link": "link", "separate": "separate",
         "approve": "approve", "reject": "reject"}


def value_str(value: Any, width: int = 0) -> str:
    """A field value on one line: "(empty)" for nothing, compact JSON for a structure."""
    if value is None or value == "":
        text = "(empty)"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)
    else:
        text = str(value)
    text = clean(text)
    return trunc(text, width) if width else text


def record_str(record: dict, width: int = 0) -> str:
    """One side of a suspected duplicate: "hubspot 9001 Acme Ltd"."""
    name = record.get("legal_name") or record.get("name") or ""
    text = clean(" ".join(str(p) for p in (record.get("system"), record.get("external_id"), name) if p))
    return trunc(text, width) if width else text


def value_in_force(row: ConflictRow) -> tuple[str, Any]:
    """The value ``keep`` keeps and who set it: the owner, another system, or "golden" (the
    challenger itself set it before the owner ever held the field)."""
    values = row.values or {}
    if row.owner in values:
        return row.owner, values[row.owner]
    for source, value in values.items():
        if source != row.challenger:
            return source, value
    return row.owner, None


def _in_force_label(row: ConflictRow, source: str) -> str:
    owner = clean(row.owner)
    if source == row.owner:
        return f"{owner} (owner)"
    if source == "golden":
        return f"the golden record ({owner}, the owner, has not set it)"
    return f"{clean(source)} (in force; {owner} owns it)"


def challenger_value(row: ConflictRow) -> Any:
    return (row.values or {}).get(row.challenger)


# --- conflicts ------------------------------------------------------------------------------
def conflict_refusal(row: ConflictRow, resolution: str, read_only: bool) -> str | None:
    """Why ``resolution`` cannot be asked for now, or None."""
    if read_only:
        return f"read-only console: {VERBS.get(resolution, resolution)} is disabled"
    if row.state != "open":
        return f"conflict {row.id} is already {row.state} ({row.resolution})"
    allowed = RESOLUTIONS.get(row.kind, ())
    if resolution not in allowed:
        return f"{row.kind} conflicts are resolved with one of: {', '.join(allowed)}"
    if resolution == "take" and row.billing_impacting:
        return f"{row.field} is billing-impacting: raise a correction (c) for finance to approve instead"
    if resolution == "correction" and not row.billing_impacting:
        return f"{row.field} is not billing-impacting: take the value (t) instead"
    return None


def conflict_preview(row: ConflictRow, resolution: str, note: str = "") -> tuple[str, str]:
    """The confirm screen's question and detail for resolving ``row`` with ``resolution``."""
    customer = clean(row.canonical_id)
    owner, challenger = clean(row.owner), clean(row.challenger)
    if row.kind == "duplicate":
        record, candidate = row.values.get("record", {}), row.values.get("candidate", {})
        incoming = record_str(record, 60)
        held = f"\nThe run it held (run {row.run_id}) is retried." if row.run_id else ""
        if resolution == "link":
            return (f"Link {incoming} to customer {customer}? (conflict {row.id})",
                    f"incoming: {incoming}\nknown:    {record_str(candidate, 60)} ({customer}){held}")
        return (f"Keep {incoming} as a separate customer? (conflict {row.id})",
                f"It stays (or becomes) a customer of its own; {record_str(candidate, 60)} ({customer}) stays "
                f"as it is.{held}")
    field = clean(row.field)
    source, kept = value_in_force(row)
    held_by = _in_force_label(row, source)
    mine, theirs = value_str(kept, 60), value_str(challenger_value(row), 60)
    if resolution == "keep":
        which = f"the {owner} value" if source == row.owner else "the current value"
        question = f"Keep {which} of {field} for customer {customer}? (conflict {row.id})"
        detail = f"{held_by}: {mine} stays.\n{challenger}: {theirs} is not applied."
    elif resolution == "take":
        question = f"Take the {challenger} value of {field} for customer {customer}? (conflict {row.id})"
        detail = f"{challenger}: {theirs} replaces\n{held_by}: {mine}."
    else:
        question = f"Raise a correction of {field} for customer {customer}? (conflict {row.id})"
        detail = (f"Finance decides whether {owner} is written with {challenger}'s value:\n- {mine}\n+ {theirs}\n"
                  f"note: {clean(note) or '(none)'}\nYou requested it, so another finance approver must decide it.")
    return question, detail + "\nQueued as a command; the engine resolves the conflict and audits it."


def resolve(app: Any, row: ConflictRow | None, resolution: str) -> None:
    """Ask for ``resolution`` of conflict ``row``: refuse with the reason, or (note,) confirm, queue."""
    if row is None:
        app.notify("select a conflict first", severity="warning", markup=False)
        return
    why = conflict_refusal(row, resolution, app.read_only)
    if why is None and (not_support := app.services.why_not_support()):
        why = f"not yours to resolve a conflict: {not_support}"
    if why:
        app.notify(clean(why), title="refused", severity="warning", markup=False)
        return

    def confirm(note: str) -> None:
        question, detail = conflict_preview(row, resolution, note)
        call = partial(app.services.resolve_conflict, row.id, resolution, note)
        _confirm_then_submit(app, question, detail, call, f"{VERBS[resolution]} failed")

    if resolution == "correction":
        from opsconsole.tui.screens.note import NoteScreen

        app.push_screen(NoteScreen(f"Raise a correction of {clean(row.field)} (conflict {row.id})",
                                   "A note for finance: why should the ERP take this value?"),
                        lambda note: confirm(note) if note is not None else None)
    else:
        confirm("")


# --- corrections ------------------------------------------------------------------------------
def correction_refusal(row: CorrectionRow, decision: str, read_only: bool) -> str | None:
    if read_only:
        return f"read-only console: {decision} is disabled"
    if row.state != "pending":
        return f"correction {row.id} is {row.state}, not pending"
    if row.why_not_yours:
        return f"not yours to {decision}: {row.why_not_yours}"
    return None


def correction_preview(row: CorrectionRow, decision: str, reason: str = "") -> tuple[str, str]:
    what = f"{clean(row.field)} of customer {clean(row.canonical_id)}"
    change = f"- {value_str(row.before, 60)}\n+ {value_str(row.after, 60)}"
    asked = f"requested by {clean(row.requested_by)}: {trunc(clean(row.reason), 120) or '(no reason given)'}"
    if decision == "approve":
        return (f"Approve correction {row.id}? {what}",
                f"{change}\n{asked}\nThe engine re-checks maker-checker, then writes it to {clean(row.target_system)}.")
    return (f"Reject correction {row.id}? {what}",
            f"{change}\n{asked}\nreason: {clean(reason)}\nNothing is written to {clean(row.target_system)}.")


def decide(app: Any, row: CorrectionRow | None, decision: str) -> None:
    """Approve or reject correction ``row`` (a rejection asks for its reason, which is required)."""
    if row is None:
        app.notify("select a correction first", severity="warning", markup=False)
        return
    why = correction_refusal(row, decision, app.read_only)
    if why:
        app.notify(clean(why), title="refused", severity="warning", markup=False)
        return
    if decision == "approve":
        question, detail = correction_preview(row, "approve")
        _confirm_then_submit(app, question, detail, partial(app.services.approve, row.id), "approve failed")
        return

    def confirm(reason: str | None) -> None:
        if reason is None:
            return
        question, detail = correction_preview(row, "reject", reason)
        _confirm_then_submit(app, question, detail, partial(app.services.reject, row.id, reason), "reject failed")

    from opsconsole.tui.screens.note import NoteScreen

    app.push_screen(NoteScreen(f"Reject correction {row.id}: why?", "The reason is required; the requester sees it.",
                               required="a rejection needs a reason"), confirm)


# --- confirm, then queue -----------------------------------------------------------------------
def _confirm_then_submit(app: Any, question: str, detail: str, call: Callable[[], CommandReceipt],
                         title: str) -> None:
    from opsconsole.tui.screens.confirm import ConfirmScreen

    def answered(yes: bool | None) -> None:
        if yes:
            submit_in_worker(app, call, title, "decision")

    app.push_screen(ConfirmScreen(question, detail), answered)
