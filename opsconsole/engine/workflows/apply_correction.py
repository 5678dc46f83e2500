"""apply_correction: an approved correction to a billing-impacting field is written to the system
that owns it (the ERP), exactly once.

validate (the engine's maker-checker re-check: approver holds the finance role under the current
settings, is not the requester, and the approval is an authentic audit entry) -> update_contact
(POST /Contacts with ContactID and the corrected field only). The idempotency key derives from the
correction, so a crash or a retry can never write it twice. Once the ERP confirmed it, the golden
record takes the value with the correction as its provenance.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from canonical.mapper import catalogue
from canonical.mapping import MappingError, mapping
from canonical.ownership import FieldState
from opsconsole.engine import governance
from opsconsole.engine.workflows.base import Prepared, RunState, Sent, StepSpec, Workflow


class CorrectionRefused(MappingError):
    """The correction may not be written; it is marked refused (audited) in the commit that fails the run."""

    title = "Correction refused"

    def __init__(self, problems: list[str], correction_id: int, audit: Any) -> None:
        super().__init__(problems)
        self.correction_id, self.audit = correction_id, audit

    def record(self, conn, run_id: int | None, event_id: str = "") -> dict:
        governance.refuse_correction(conn, self.audit, self.correction_id, "; ".join(self.problems))
        return {"correction_id": self.correction_id}


class ApplyCorrection(Workflow):
    name = "apply_correction"
    triggers = ("confirmed",)
    steps = (
        StepSpec("validate", "engine", "check the approval (maker-checker)"),
        StepSpec("update_contact", "xero", "POST /Contacts"),
        StepSpec("update_company", "hubspot", "PATCH /crm/v3/objects/companies/{id}"),
    )
    # the system of record written: one step per target, the other skipped (nothing to send)
    TARGETS = {"xero": ("update_contact", "contact"), "hubspot": ("update_company", "company")}

    @staticmethod
    def correction_id(state: RunState) -> int:
        return int(state.business_key.rsplit(":", 1)[-1])

    async def load(self, env, state: RunState) -> dict:
        cid = self.correction_id(state)
        correction = env.read(lambda c: governance.get_correction(c, cid))
        problem = env.read(lambda c: governance.approval_problem(c, env.audit, env.settings.has_role, correction))
        return {"correction": correction, "problem": problem}

    def identity(self, state: RunState) -> dict | None:
        return None

    def prepare(self, env, state: RunState, customer_id: str, matched_by: str) -> Prepared:
        src = state.source or {}
        correction = src["correction"]
        if src.get("problem"):
            raise CorrectionRefused([src["problem"]], correction["id"], env.audit)
        if correction["target_system"] not in self.TARGETS or correction["entity"] != "customer":
            raise CorrectionRefused([f"correction {correction['id']}: writing {correction['entity']} to "
                                     f"{correction['target_system']} is not supported"], correction["id"], env.audit)
        state.mapped["audit"] = env.audit
        return Prepared(correction["canonical_id"], {"correction": correction["id"], "field": correction["field"],
                                                     "approved_by": correction["decided_by"]})

    def govern(self, conn, state: RunState) -> dict:
        from opsconsole.engine import records

        correction = (state.source or {})["correction"]
        system = correction["target_system"]
        external = records.find_xref(conn, state.account_key, system, self.TARGETS[system][1])
        if external is None:
            raise CorrectionRefused([f"customer {state.account_key} has no {system} {self.TARGETS[system][1]} to correct"],
                                    correction["id"], state.mapped["audit"])
        return {"target": external}

    def build(self, step: StepSpec, env, state: RunState) -> Any:
        correction = (state.source or {})["correction"]
        if step.name != self.TARGETS[correction["target_system"]][0]:
            return None
        target = (state.results.get("validate") or {})["target"]
        change = {correction["field"]: correction["after"]}
        if step.name == "update_contact":
            return mapping(state.mapping_version)["contact"](change, target)
        body = catalogue().get("hubspot/customer", state.mapping_version).write(change)
        return {"company": target, **body}

    async def send(self, step: StepSpec, payload: Any, env, state: RunState, idempotency_key: str,
                   traceparent: str) -> Sent:
        if step.name == "update_company":
            rec = await env.client("hubspot").update_company(payload["company"], payload["properties"],
                                                             traceparent=traceparent)
            return Sent(rec)
        rec = await env.client("xero").upsert_contact(payload, idempotency_key=idempotency_key, traceparent=traceparent)
        return Sent(rec)

    def finish(self, conn, env, state: RunState) -> None:
        """In the commit of the last step: the ERP confirmed it, so the correction is applied."""
        correction = (state.source or {})["correction"]
        record = governance.load_golden(conn, "customer", state.account_key)
        record.fields[correction["field"]] = FieldState(correction["after"], correction["target_system"],
                                                        f"correction:{correction['id']}", datetime.now(timezone.utc))
        governance.save_golden(conn, record, [correction["field"]])
        governance.mark_applied(conn, env.audit, correction["id"], state.run_id)
