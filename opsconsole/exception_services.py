"""The facade's exceptions half: the filtered, sorted queue (facets from :mod:`opsconsole.filters`),
the detail (payload masked unless the operator holds the ``pii`` role), and the operator verbs on
exceptions — acknowledge, assign, resolve, and their bulk forms — written as commands the engine
executes (and re-checks: :mod:`opsconsole.engine.exception_commands`). The console and the CLI call
the same methods. Mixed into :class:`opsconsole.services.Services`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from sqlalchemy import func, select

from opsconsole.filters import SORTS, FilterError, parse
from opsconsole.masking import PII_ROLE, Masker
from opsconsole.store.exception_query import ORDER_BY, conditions
from opsconsole.store.tables import exceptions, spans
from opsconsole.viewmodels import BulkPreview, CommandReceipt, ExceptionDetail, ExceptionRow, Page, SpanView

SUPPORT_ROLE = "support"
OPEN_STATES = ("open", "acknowledged")
VERBS = ("acknowledge", "assign", "resolve", "retry", "replay")
"""What can be done to marked exceptions in bulk (one command each)."""

SUGGESTIONS = {
    "validation": "Fix the source record in the CRM (the error names the field), then replay: replay re-reads it.",
    "rate_limit": "The target throttled us past the retry budget: retry once its limit window has passed.",
    "auth": "Reconnect the connector (opsconsole connect {system}), then retry.",
    "downstream_5xx": "The target failed: check its status, then retry (the idempotency key prevents duplicates).",
    "timeout": "The target did not answer in time: retry; the idempotency key makes a repeat safe.",
    "rejected_by_target": "The target refused the request as sent: read its message, fix the data, then replay.",
    "sequencing": "A prerequisite step has not completed: replay from the earlier step.",
}
"""The one table of what to do about each category ({system} is the exception's system)."""


def suggestion(category: str, system: str) -> str:
    return SUGGESTIONS.get(category, "").replace("{system}", system or "<system>")


class ExceptionServices:
    settings: Any
    operator: str
    read_only: bool
    clock: Any

    def _q(self, fn):  # provided by Services
        raise NotImplementedError

    def _command(self, kind: str, target: str, params: dict, message: str) -> CommandReceipt:  # provided by Services
        raise NotImplementedError

    # --- queries ---------------------------------------------------------------------------
    def exceptions(self, *, offset: int = 0, limit: int = 50, states: Iterable[str] | None = OPEN_STATES,
                   text: str = "", sort: str = "newest") -> Page[ExceptionRow]:
        """One page of exceptions matching the `/` filter ``text`` (free text and facets), sorted.

        Args:
            states: the states shown when ``text`` has no ``state:`` facet (None: every state).
            sort: one of :data:`opsconsole.filters.SORTS`.
        Raises:
            FilterError: ``text`` has a bad token (the message says what to type).
        """
        from opsconsole.services import _exc_row

        if sort not in ORDER_BY:
            raise FilterError(f"sort: one of {', '.join(SORTS)}")
        cond = self._conditions(text, states)

        def q(c):
            rows = c.execute(select(exceptions).where(*cond).order_by(*ORDER_BY[sort])
                             .offset(offset).limit(limit)).mappings().all()
            total = c.execute(select(func.count()).select_from(exceptions).where(*cond)).scalar()
            return rows, total
        rows, total = self._q(q)
        now = self.clock()
        return Page([_exc_row(r, now) for r in rows], total or 0, offset, limit)

    def _conditions(self, text: str, states: Iterable[str] | None = OPEN_STATES, now: float | None = None):
        f = parse(text)
        if "state" not in f.facets:
            f = replace(f, states=tuple(states or ()))
        return conditions(f, operator=self.operator, now=self.clock() if now is None else now)

    def exception_detail(self, exception_id: int) -> ExceptionDetail:
        """An exception with its suggested action, its trace's spans and its payload (personal data
        masked unless the operator holds the pii role)."""
        from opsconsole.services import _dt, _exc_row

        def q(c):
            row = c.execute(select(exceptions).where(exceptions.c.id == exception_id)).mappings().first()
            if row is None:
                raise KeyError(f"no exception {exception_id}")
            sp = []
            if row["correlation_id"]:
                sp = c.execute(select(spans).where(spans.c.correlation_id == row["correlation_id"])
                               .order_by(spans.c.started_at).limit(200)).mappings().all()
            return row, sp
        row, sp = self._q(q)
        mask = Masker(not self.settings.has_role(self.operator, PII_ROLE))
        payload = mask(row["payload"])
        span_views = [SpanView(s["span_id"], s["system"], s["operation"], s["status"], s["http_status"],
                               _dt(s["started_at"]), s["duration_ms"], None, None) for s in sp]
        return ExceptionDetail(_exc_row(row, self.clock()), payload, suggestion(row["category"], row["system"] or ""),
                               mask.count, row["resolution"] or "", span_views, self.why_not_support() or "")

    def known_operators(self) -> list[str]:
        """The operators named in the settings' roles (whom an exception can be assigned to)."""
        return sorted(self.settings.roles)

    def why_not_support(self) -> str | None:
        """Why this operator may not act on exceptions, or None when they may."""
        if self.read_only:
            return "this console is read-only (--read-only): actions are disabled"
        if not self.settings.has_role(self.operator, SUPPORT_ROLE):
            return f"{self.operator} does not hold the support role"
        return None

    def _check_support(self, verb: str) -> None:
        from opsconsole.services import ActionRefused

        why = self.why_not_support()
        if why:
            raise ActionRefused(why if self.read_only else f"not yours to {verb}: {why}")

    def _open_exception(self, exception_id: int, verb: str, states: tuple[str, ...] = OPEN_STATES) -> ExceptionRow:
        from opsconsole.services import ActionRefused

        self._check_support(verb)
        try:
            row = self.exception_detail(exception_id).exception
        except KeyError:
            raise ActionRefused(f"no exception {exception_id}") from None
        if row.state not in states:
            raise ActionRefused(f"exception {exception_id} is {row.state}: nothing to {verb}")
        return row

    # --- verbs (commands the engine executes and re-checks) ------------------------------------
    def acknowledge(self, exception_id: int) -> CommandReceipt:
        """open -> acknowledged; the operator becomes the owner if it has none."""
        self._open_exception(exception_id, "acknowledge", ("open",))
        return self._command("acknowledge", f"exception:{exception_id}", {},
                             f"acknowledge of exception {exception_id} queued")

    def check_assignee(self, name: str | None) -> str:
        """The assignee ("" or None: the operator); refuses a name not in the settings' roles."""
        from opsconsole.services import ActionRefused

        name = (name or "").strip() or self.operator
        known = self.known_operators()
        if name not in known:
            raise ActionRefused(f"{name} is not a known operator (known: {', '.join(known) or 'nobody'}): "
                                f"add them to roles in the settings file")
        return name

    def assign(self, exception_id: int, to: str | None = None) -> CommandReceipt:
        """Give the exception an owner (the operator when ``to`` is empty); an open one becomes acknowledged."""
        self._check_support("assign")
        to = self.check_assignee(to)
        self._open_exception(exception_id, "assign")
        return self._command("assign", f"exception:{exception_id}", {"to": to},
                             f"assign of exception {exception_id} to {to} queued")

    def resolve(self, exception_id: int, reason: str) -> CommandReceipt:
        """-> resolved, with the reason (required)."""
        from opsconsole.services import ActionRefused

        self._check_support("resolve")
        if not (reason or "").strip():
            raise ActionRefused("resolving an exception needs a reason")
        self._open_exception(exception_id, "resolve")
        return self._command("resolve", f"exception:{exception_id}", {"reason": reason.strip()},
                             f"resolve of exception {exception_id} queued")

    # --- bulk -----------------------------------------------------------------------------------
    def bulk_preview(self, *, ids: Iterable[int] | None = None, filter_text: str | None = None,
                     exclude: Iterable[int] = ()) -> BulkPreview:
        """Count what a bulk action would touch: the marked ``ids``, or every exception matching
        ``filter_text`` (as the pane shows it, less ``exclude``), by category and by state."""
        if ids is not None:
            id_list = sorted({int(i) for i in ids})
            cond = [exceptions.c.id.in_(id_list)]
            selection: dict = {"ids": id_list}
        else:
            now = self.clock()
            cond = self._conditions(filter_text or "", now=now)
            ex = sorted({int(i) for i in exclude})
            if ex:
                cond.append(exceptions.c.id.not_in(ex))
            selection = {"filter": filter_text or "", "exclude": ex, "now": now}

        def q(c):
            by_cat = c.execute(select(exceptions.c.category, func.count()).where(*cond)
                               .group_by(exceptions.c.category)).all()
            by_state = c.execute(select(exceptions.c.state, func.count()).where(*cond)
                                 .group_by(exceptions.c.state)).all()
            max_id = c.execute(select(func.max(exceptions.c.id)).where(*cond)).scalar()
            no_run = c.execute(select(func.count()).select_from(exceptions)
                               .where(*cond, exceptions.c.run_id.is_(None))).scalar()
            return by_cat, by_state, max_id, no_run
        by_cat, by_state, max_id, no_run = self._q(q)
        if ids is None:
            selection["max_id"] = max_id or 0
        cats = dict(sorted(((k, n) for k, n in by_cat), key=lambda kv: (-kv[1], kv[0])))
        return BulkPreview(sum(cats.values()), cats, dict(by_state), selection, no_run or 0)

    def bulk(self, verb: str, preview: BulkPreview, *, reason: str = "", to: str | None = None,
             from_step: str = "", mapping: str = "original") -> CommandReceipt:
        """One command for the whole selection (``preview.selection``); the engine executes it in
        batches, showing "n of N" in the command's result while it runs. A replay starts each run
        from ``from_step`` (default: its failed step; a run whose workflow has no such step is
        skipped) with the ``mapping`` it ran with ("original") or the "current" one."""
        from opsconsole.services import ActionRefused

        if verb not in VERBS:
            raise ActionRefused(f"bulk {verb} is not an action (one of: {', '.join(VERBS)})")
        self._check_support(verb)
        params: dict = {**preview.selection, "total": preview.total}
        if verb == "resolve":
            if not (reason or "").strip():
                raise ActionRefused("resolving exceptions needs a reason")
            params["reason"] = reason.strip()
        if verb == "assign":
            params["to"] = self.check_assignee(to)
        if verb == "replay":
            if mapping not in ("original", "current"):
                raise ActionRefused(f"mapping must be 'original' or 'current', not {mapping!r}")
            params["mapping"] = mapping
            if from_step:
                params["from_step"] = from_step
        if preview.total == 0:
            raise ActionRefused("no exceptions are marked")
        target = "exceptions:marked" if "ids" in preview.selection else "exceptions:filter"
        return self._command(f"bulk_{verb}", target, params,
                             f"{verb} of {preview.total} exceptions queued")


def preview_question(verb: str, preview: BulkPreview) -> str:
    """'Resolve 37 exceptions (validation: 30, rate_limit: 7)?'"""
    cats = ", ".join(f"{k}: {n}" for k, n in preview.by_category.items())
    noun = "exception" if preview.total == 1 else "exceptions"
    if verb == "replay":
        return f"Replay the runs of {preview.total} {noun} ({cats})?"
    return f"{verb.capitalize()} {preview.total} {noun} ({cats})?"


def preview_detail(verb: str, preview: BulkPreview, *, reason: str = "", to: str | None = None,
                   from_step: str = "", mapping: str = "original") -> list[str]:
    """The lines under the preview question: the selection's states now, what will be skipped,
    and what the action carries (owner, reason, a replay's step and mapping)."""
    states = ", ".join(f"{n} {s}" for s, n in sorted(preview.by_state.items()))
    lines = [f"now: {states}" if states else "nothing matches any more"]
    applies = ("open",) if verb == "acknowledge" else OPEN_STATES
    skipped = sum(n for s, n in preview.by_state.items() if s not in applies)
    if skipped:
        lines.append(f"{skipped} will be skipped (not in a state to {verb})")
    if verb in ("retry", "replay") and preview.without_run:
        lines.append(f"{preview.without_run} will be skipped (malformed events: no run to {verb})")
    if to:
        lines.append(f"owner: {to}")
    if reason:
        lines.append(f"reason: {reason}")
    if verb == "replay":
        lines.append(f"each run from {'step ' + from_step if from_step else 'its failed step'}, "
                     f"with {'the current mapping' if mapping == 'current' else 'the mapping it ran with'}")
    return lines
