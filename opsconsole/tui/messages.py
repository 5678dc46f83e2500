"""Typed messages the thread workers post back to the widgets (workers never touch widgets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from textual.message import Message

from opsconsole.viewmodels import (
    CommandReceipt, CommandState, Counts, Dashboard, EngineStatus, ExceptionDetail, Page, ReplayPlan, RunDetail,
)


@dataclass
class PageLoaded(Message):
    """One window of a live table, fetched for request ``gen``."""

    gen: int
    page: Page[Any]


@dataclass
class PageFailed(Message):
    gen: int
    error: str


@dataclass
class StatusLoaded(Message):
    """Counts and the engine lease, for the status lines."""

    counts: Counts
    engine: EngineStatus

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StatusLoaded)


@dataclass
class StatusFailed(Message):
    error: str


@dataclass
class TraceLoaded(Message):
    detail: RunDetail
    exception: ExceptionDetail | None


@dataclass
class TraceFailed(Message):
    error: str


@dataclass
class PlanReady(Message):
    plan: ReplayPlan
    mapping: str


@dataclass
class PlanFailed(Message):
    error: str


@dataclass
class RetryPreview(Message):
    """What a retry would do, for the confirmation dialog."""

    exception_id: int
    run_id: int | None
    step: str


@dataclass
class ActionRefusedNotice(Message):
    """An action the services (or this console) refused; ``message`` says why."""

    message: str


@dataclass
class ActionFailed(Message):
    title: str
    error: str


@dataclass
class CommandQueued(Message):
    receipt: CommandReceipt


@dataclass
class CommandProgress(Message):
    state: CommandState
    polls: int


@dataclass
class TableTotals(Message):
    """A live table loaded a window: how many rows match its filter in all."""

    pane: str
    total: int
    offset: int
    shown: int


@dataclass
class DetailLoaded(Message):
    """A detail screen's view model (a ``ConflictDetail``, a ``CorrectionRow``)."""

    detail: Any


@dataclass
class DetailFailed(Message):
    error: str


@dataclass
class DashboardLoaded(Message):
    """The dashboard's view model, fetched for request ``gen``."""

    gen: int
    dashboard: Dashboard


@dataclass
class DashboardFailed(Message):
    gen: int
    error: str


def post_detail(widget: Any, fetch: Callable[[], Any]) -> None:
    """In a detail screen's thread worker: ``fetch()`` and post :class:`DetailLoaded` with what it
    returned or :class:`DetailFailed` with what it raised, unless the worker was cancelled meanwhile."""
    from textual.worker import get_current_worker

    worker = get_current_worker()
    try:
        detail = fetch()
    except Exception as exc:
        if not worker.is_cancelled:
            widget.post_message(DetailFailed(f"{type(exc).__name__}: {exc}"))
        return
    if not worker.is_cancelled:
        widget.post_message(DetailLoaded(detail))
