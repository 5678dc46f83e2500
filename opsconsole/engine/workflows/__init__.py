"""Workflows: what a run does, step by step. Found by name in :data:`WORKFLOWS`."""

from __future__ import annotations

from opsconsole.engine.workflows.apply_correction import ApplyCorrection
from opsconsole.engine.workflows.base import Workflow
from opsconsole.engine.workflows.company_to_contact import CompanyToContact
from opsconsole.engine.workflows.contact_to_company import ContactToCompany
from opsconsole.engine.workflows.crm_contact_to_cs_erp import CrmContactToCsErp
from opsconsole.engine.workflows.cs_company_to_crm import CsCompanyToCrm
from opsconsole.engine.workflows.cs_contact_to_crm import CsContactToCrm
from opsconsole.engine.workflows.delivery_risk import DeliveryRisk
from opsconsole.engine.workflows.invoice_feedback import InvoiceFeedback
from opsconsole.engine.workflows.onboarding import Onboarding
from opsconsole.engine.workflows.quote_to_order import QuoteToOrder
from opsconsole.engine.workflows.renewal_readiness import RenewalReadiness

WORKFLOWS: dict[str, Workflow] = {wf.name: wf for wf in (
    QuoteToOrder(), CompanyToContact(), ContactToCompany(), ApplyCorrection(),
    CrmContactToCsErp(), CsContactToCrm(), CsCompanyToCrm(), InvoiceFeedback(), Onboarding(), DeliveryRisk(),
    RenewalReadiness(),
)}


def unknown_step(workflow: str, step: str) -> str | None:
    """Why a replay cannot start from ``step`` of ``workflow`` (it has no such step), or None: one
    message for the console's and CLI's check, the dry run and the engine's own."""
    names = [s.name for s in WORKFLOWS[workflow].steps]
    return None if step in names else f"workflow {workflow} has no step {step!r} (steps: {', '.join(names)})"
