"""The exceptions filter (:mod:`opsconsole.filters`) and sorts as SQL, shared by the facade's reads
and the engine's bulk commands, so the count a person confirmed and the rows the engine changes
come from the same conditions.

Every condition is indexed: state (ix_exc_state: state, created_at), and the facets' own indexes
(migration 0007: ix_exc_category, ix_exc_workflow, ix_exc_owner, each led by its column then state).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_

from opsconsole.filters import ExceptionFilter
from opsconsole.store.tables import exceptions

_e = exceptions.c
ORDER_BY: dict[str, tuple[Any, ...]] = {
    "newest": (_e.id.desc(),),
    "oldest": (_e.id.asc(),),
    "category": (_e.category.asc(), _e.id.desc()),
    "workflow": (_e.workflow.asc(), _e.id.desc()),
}


def like(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (``%`` and ``_`` typed by a person are text)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conditions(f: ExceptionFilter, *, operator: str, now: float) -> list[ColumnElement[bool]]:
    """WHERE conditions (AND) for filter ``f``; ``owner:me`` is ``operator``, ages are counted from ``now``."""
    cond: list[ColumnElement[bool]] = []
    if f.states:
        cond.append(_e.state.in_(f.states))
    if f.workflows:
        cond.append(_e.workflow.in_(f.workflows))
    if f.categories:
        cond.append(_e.category.in_(f.categories))
    if f.systems:
        cond.append(_e.system.in_(f.systems))
    if f.owners:
        # nobody is "" (the column's default; the engine never writes NULL): one IN, on ix_exc_owner
        cond.append(_e.owner.in_([operator if o == "me" else o for o in f.owners]))
    if f.older_than_s is not None:
        cond.append(_e.created_at < now - f.older_than_s)
    if f.younger_than_s is not None:
        cond.append(_e.created_at > now - f.younger_than_s)
    for term in f.text:
        pattern = like(term)
        cond.append(or_(*(col.like(pattern, escape="\\") for col in (_e.business_key, _e.title, _e.last_error))))
    return cond
