"""Writing an operator's command from the console: in a thread worker (the store may be slow), then
the app says it was queued and tracks it, or says why it was refused or failed."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from opsconsole.services import ActionRefused
from opsconsole.tui.messages import ActionFailed, ActionRefusedNotice, CommandQueued
from opsconsole.viewmodels import CommandReceipt


def submit_in_worker(app: Any, call: Callable[[], CommandReceipt], title: str, group: str) -> None:
    app.run_worker(partial(submit, app, call, title), thread=True, group=group)


def submit(app: Any, call: Callable[[], CommandReceipt], title: str) -> None:
    """In a thread worker: write the command (``call``); ``title`` heads a failure's notice."""
    try:
        receipt = call()
    except ActionRefused as exc:
        app.post_message(ActionRefusedNotice(str(exc)))
        return
    except Exception as exc:
        app.post_message(ActionFailed(title, f"{type(exc).__name__}: {exc}"))
        return
    app.post_message(CommandQueued(receipt))
