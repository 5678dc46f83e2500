"""The facade's governance half: conflicts and corrections (finance approval), paged from SQL, and
the decisions on them, written as commands the engine executes (and re-checks: DESIGN,
maker-checker is the engine's rule). Mixed into :class:`opsconsole.services.Services`."""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import String, cast, func, or_, select

from opsconsole.engine import governance
from opsconsole.store.tables import conflicts, corrections, golden_fields
from opsconsole.viewmodels import CommandReceipt, ConflictDetail, ConflictRow, CorrectionRow, Page, ValueSource


class GovernanceServices:
    settings: Any
    operator: str
    clock: Any

    def _q(self, fn):  # provided by Services
        raise NotImplementedError

    def _command(self, kind: str, target: str, params: dict, message: str) -> CommandReceipt:  # provided by Services
        raise NotImplementedError

    # --- queries ---------------------------------------------------------------------------
    def conflicts(self, *, offset: int = 0, limit: int = 50, states: Iterable[str] | None = ("open",),
                  kind: str | None = None, text: str = "") -> Page[ConflictRow]:
        cond = []
        if states:
            cond.append(conflicts.c.state.in_(list(states)))
        if kind:
            cond.append(conflicts.c.kind == kind)
        if text:
            cond.append(_matches(text, conflicts.c.canonical_id, conflicts.c.field, conflicts.c.kind,
                                 conflicts.c.owner, conflicts.c.challenger, conflicts.c.rule,
                                 cast(conflicts.c["values"], String)))
        now = self.clock()

        def q(c):
            total = c.scalar(select(func.count()).select_from(conflicts).where(*cond))
            rows = c.execute(select(conflicts).where(*cond).order_by(conflicts.c.created_at.desc(), conflicts.c.id.desc())
                             .offset(offset).limit(limit)).mappings()
            return Page([_conflict_row(r, now) for r in rows], total, offset, limit)
        return self._q(q)

    def conflict(self, conflict_id: int) -> ConflictRow:
        now = self.clock()
        return self._q(lambda c: _conflict_row(governance.get_conflict(c, conflict_id), now))

    def conflict_detail(self, conflict_id: int) -> ConflictDetail:
        """A conflict with where each system's value came from (the golden record's provenance for
        the value it holds, the conflict's event for the challenger's)."""
        now = self.clock()

        def q(c):
            r = governance.get_conflict(c, conflict_id)
            golden = None
            if r["kind"] == "ownership":
                golden = c.execute(select(golden_fields).where(
                    golden_fields.c.entity == r["entity"], golden_fields.c.canonical_id == r["canonical_id"],
                    golden_fields.c.field == r["field"])).mappings().first()
            return r, golden
        r, golden = self._q(q)
        row = _conflict_row(r, now)
        sources = []
        if row.kind == "ownership":
            for system, value in (row.values or {}).items():
                if golden is not None and system == golden["system"]:
                    event_id, at, held = golden["event_id"], _dt(golden["set_at"]), golden["value"] == value
                elif system == row.challenger:
                    event_id, at, held = r["event_id"], row.created_at, False
                else:
                    event_id, at, held = "", None, False
                sources.append(ValueSource(system, value, system == row.owner, event_id, at, held))
        return ConflictDetail(row, sources, r["event_id"], r["note"],
                              golden["value"] if golden is not None else None,
                              golden["system"] if golden is not None else "")

    def corrections(self, *, offset: int = 0, limit: int = 50,
                    states: Iterable[str] | None = ("pending",), text: str = "") -> Page[CorrectionRow]:
        cond = [corrections.c.state.in_(list(states))] if states else []
        if text:
            cond.append(_matches(text, corrections.c.canonical_id, corrections.c.field, corrections.c.requested_by,
                                 corrections.c.target_system, corrections.c.reason))
        now = self.clock()

        def q(c):
            total = c.scalar(select(func.count()).select_from(corrections).where(*cond))
            rows = c.execute(select(corrections).where(*cond).order_by(corrections.c.created_at.desc(),
                                                                       corrections.c.id.desc())
                             .offset(offset).limit(limit)).mappings()
            return Page([self._correction_row(r, now) for r in rows], total, offset, limit)
        return self._q(q)

    def correction(self, correction_id: int) -> CorrectionRow:
        now = self.clock()
        return self._q(lambda c: self._correction_row(governance.get_correction(c, correction_id), now))

    def _correction_row(self, r: Any, now: float) -> CorrectionRow:
        why = governance.why_not_approver(dict(r), self.operator, self.settings.has_role) or ""
        return CorrectionRow(r["id"], r["conflict_id"], r["entity"], r["canonical_id"], r["field"], r["before"],
                             r["after"], r["target_system"], r["requested_by"], r["reason"], r["state"],
                             r["decided_by"], r["decision_reason"], r["run_id"], _dt(r["created_at"]),
                             max(0.0, now - r["created_at"]), why)

    # --- decisions (commands the engine executes and re-checks) --------------------------------
    def resolve_conflict(self, conflict_id: int, resolution: str, note: str = "") -> CommandReceipt:
        from opsconsole.services import ActionRefused

        self._check_support("resolve a conflict")  # it changes what the systems hold
        row = self.conflict(conflict_id)
        if row.state != "open":
            raise ActionRefused(f"conflict {conflict_id} is already {row.state} ({row.resolution})")
        allowed = governance.RESOLUTIONS[row.kind]
        if resolution not in allowed:
            raise ActionRefused(f"{row.kind} conflicts are resolved with one of: {', '.join(allowed)}")
        if resolution == "take" and row.billing_impacting:
            raise ActionRefused(f"{row.field} is billing-impacting: raise a correction for finance to approve instead")
        return self._command("resolve_conflict", f"conflict:{conflict_id}", {"resolution": resolution, "note": note},
                             f"conflict {conflict_id}: {resolution} queued")

    def approve(self, correction_id: int) -> CommandReceipt:
        return self._decide(correction_id, "approve", "")

    def reject(self, correction_id: int, reason: str) -> CommandReceipt:
        from opsconsole.services import ActionRefused

        if not reason.strip():
            raise ActionRefused("a rejection needs a reason")
        return self._decide(correction_id, "reject", reason.strip())

    def _decide(self, correction_id: int, kind: str, reason: str) -> CommandReceipt:
        from opsconsole.services import ActionRefused

        row = self.correction(correction_id)
        if row.state != "pending":
            raise ActionRefused(f"correction {correction_id} is {row.state}, not pending")
        if row.why_not_yours:
            raise ActionRefused(row.why_not_yours)
        return self._command(kind, f"correction:{correction_id}", {"reason": reason} if reason else {},
                             f"{kind} of correction {correction_id} queued")


def _matches(text: str, *columns: Any):
    """Any of ``columns`` contains ``text`` literally (the console's `/` filter)."""
    from opsconsole.services import _like

    like = _like(text)
    return or_(*(col.like(like, escape="\\") for col in columns))


def _dt(ts: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _conflict_row(r: Any, now: float) -> ConflictRow:
    return ConflictRow(r["id"], r["kind"], r["entity"], r["canonical_id"], r["field"], r["owner"], r["rule"],
                       r["values"], r["challenger"], r["proposed"], bool(r["billing_impacting"]), r["score"], r["state"],
                       r["resolution"], r["resolved_by"], r["correction_id"], r["run_id"], _dt(r["created_at"]),
                       max(0.0, now - r["created_at"]))
