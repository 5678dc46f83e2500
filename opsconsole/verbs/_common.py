"""What the governance verbs (``conflicts``, ``approvals``) share: who the operator is, opening the
services, plain-text cells for untrusted values, JSON of view models, and queuing a decision as a
command and waiting (bounded) for the engine to execute it.

Exit codes of a decision: 0 done (or queued with --no-wait), 1 refused or failed (the reason on
stderr), 2 usage, 3 the engine did not execute it in time (it stays queued); 130 Ctrl-C while waiting (it
stays queued too).
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import datetime
from typing import Any, Callable

import click
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

DONE, REFUSED, USAGE, TIMED_OUT = 0, 1, 2, 3

SYSTEM_ORDER = ("hubspot", "xero", "intercom", "stripe")

ACTION_JSON_HELP = """\b
With --json, stdout carries one JSON document whatever the outcome:
  {"command": ID or null, "kind": "...", "target": "...",
   "status": "done" | "failed" | "queued" | "refused", "result": "..."}
("refused": nothing was queued; "queued": --no-wait, or the engine did not execute it in time)."""

EXIT_HELP = """\b
Exit status: 0 done (or queued, with --no-wait); 1 refused or failed (the reason on stderr,
nothing queued when refused); 2 usage error; 3 not executed within --timeout (no engine is
running, or it is busy): the command stays queued and runs when an engine gets to it."""


def _one_operator(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> str | None:
    # a forced command in authorized_keys sets --as; a second --as from the client must not override it
    if len(value) > 1:
        raise click.BadParameter("given more than once", ctx=ctx, param=param)
    if value and not value[0].strip():
        raise click.BadParameter("an operator name cannot be empty", ctx=ctx, param=param)
    return value[0] if value else None


def as_option(fn: Callable) -> Callable:
    """``--as NAME``, as ``opsconsole console`` takes it: the operator is the OS account (the
    settings' ``operator``) unless a forced command in authorized_keys names it. Given once only."""
    return click.option("--as", "operator", metavar="NAME", multiple=True, callback=_one_operator,
                        help="Operator name (forced commands in authorized_keys set it; default: the OS account). "
                             "Accepted once.")(fn)


def open_services(operator: str | None):
    """The services facade for ``operator`` (None: the settings' operator), with the settings file in force."""
    from opsconsole.cli import _settings
    from opsconsole.services import Services

    settings = _settings()
    try:
        return Services(settings, operator=operator)
    except KeyError as exc:  # the audit key's credential reference does not resolve
        raise click.ClickException(str(exc).strip("'\"")) from None


def read_one(operator: str | None, get: Callable[[Any], Any]) -> Any:
    """``get(services)`` for one record (a run, an exception); a missing one is a clean error (exit 1)."""
    services = open_services(operator)
    try:
        return get(services)
    except KeyError as exc:
        raise click.ClickException(str(exc).strip("'\"")) from None
    finally:
        services.close()


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def cell(value: Any, style: str = "") -> Text:
    """An untrusted value as a plain table cell: escape sequences and control characters stripped,
    never parsed as Rich markup."""
    from opsconsole.tui.safe import clean

    return Text(clean(show_value(value)), style=style)


def show_value(value: Any) -> str:
    """A field value as text: strings as they are, empties as "(none)", the rest as compact JSON."""
    if value is None or value == "":
        return "(none)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def age(seconds: float) -> str:
    from opsconsole.tui.fmt import age as fmt_age

    return fmt_age(seconds)


def to_json(row: Any, keys: tuple[str, ...]) -> dict:
    """The named attributes of a view model as a JSON object (the keys are listed, not taken from
    the dataclass, so a field added to a view model does not change the documented output):
    datetimes as ISO 8601 (UTC), ages to 0.1 s."""
    out = {}
    for key in keys:
        v = getattr(row, key)
        if isinstance(v, datetime):
            v = v.isoformat()
        elif key == "age_s":
            v = round(v, 1)
        out[key] = v
    return out


def emit_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, default=str))


RIGHT = ("ID", "AGE")
NO_WRAP = ("ID", "KIND", "AGE")


def table(out: Console, groups: list[tuple[str, ...]], rows: list[dict[str, Text]], *, wide_from: int = 120) -> Table:
    """A table of ``rows`` (column name -> cell). From ``wide_from`` columns of terminal width on,
    one column per name; narrower (80 columns over SSH), the names of each group share one column,
    their cells stacked, so no column is squeezed out of sight."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    wide = out.width >= wide_from
    columns = [(name,) for group in groups for name in group] if wide else groups
    for names in columns:
        t.add_column(" / ".join(names), justify="right" if names[0] in RIGHT else "left",
                     no_wrap=all(n in NO_WRAP for n in names), overflow="fold")
    for row in rows:
        t.add_row(*(Text("\n").join(row[n] for n in names if row.get(n)) for names in columns))
    return t


def systems_in(rows_values: list[dict]) -> list[str]:
    seen = {s for values in rows_values for s in values}
    return [s for s in SYSTEM_ORDER if s in seen] + sorted(seen - set(SYSTEM_ORDER))


def _finisher(kind: str, target: str, as_json: bool, extra: dict | None) -> Callable[..., None]:
    def finish(code: int, command: int | None, status: str, result: str, *, err: str = "") -> None:
        if as_json:
            emit_json({"command": command, "kind": kind, "target": target, "status": status, "result": result,
                       **(extra or {})})
        elif not err:
            click.echo(result)
        if err:
            click.echo(err, err=True)
        sys.exit(code)
    return finish


def decide(services, queue: Callable[[], Any], *, kind: str, target: str, wait: bool, timeout: float,
           as_json: bool, extra: dict | None = None) -> None:
    """Queue one decision (``queue`` returns the service's receipt), optionally wait for the engine
    to execute it, report, and exit with the status the module docstring gives. ``extra``: more keys
    for the JSON document (a bulk action's preview)."""
    from opsconsole.engine.governance import GovernanceError
    from opsconsole.services import ActionRefused

    finish = _finisher(kind, target, as_json, extra)
    try:
        receipt = queue()
    except (ActionRefused, GovernanceError) as exc:
        finish(REFUSED, None, "refused", str(exc), err=f"refused: {exc}")
    if not wait:
        finish(DONE, receipt.command_id, "queued", f"{receipt.message} (command {receipt.command_id})")
    _report(services, receipt.command_id, timeout, finish, progress=not as_json)


def follow(services, command_id: int, *, timeout: float, as_json: bool) -> None:
    """Watch a command already queued (by anyone, from any terminal) until it ends or ``timeout``
    passes, with a progress bar for bulk work; exit as :func:`decide` does."""
    try:
        state = services.command(command_id)
    except KeyError:
        click.echo(f"no command {command_id}", err=True)
        sys.exit(REFUSED)
    _report(services, command_id, timeout, _finisher(state.kind, state.target, as_json, None), progress=not as_json)


def _report(services, command_id: int, timeout: float, finish: Callable[..., None], *, progress: bool) -> None:
    try:
        state = _wait(services, command_id, timeout, progress=progress)
    except KeyboardInterrupt:  # the command is the engine's now; Ctrl-C only stops watching it
        click.echo(f"stopped watching: command {command_id} goes on in the engine "
                   f"(`opsconsole replay --follow {command_id}` watches it again)", err=True)
        sys.exit(130)
    if state.status == "done":
        finish(DONE, state.command_id, "done", state.result)
    if state.status == "failed":
        finish(REFUSED, state.command_id, "failed", state.result,
               err=f"command {state.command_id} failed: {state.result}")
    if state.status == "running":  # a bulk command between two of its batches: the engine goes on with it
        why = (f"command {state.command_id} is still running ({state.result}) after {timeout:g} s: "
               "the engine goes on with it")
        finish(TIMED_OUT, state.command_id, "running", why, err=why)
    engine = services.engine_status()
    if engine.alive:
        why = (f"the engine ({engine.holder}) has not executed command {state.command_id} within {timeout:g} s: "
               "it stays queued and runs when the engine gets to it")
    else:
        why = (f"no engine is running on this store: command {state.command_id} stays queued and runs when one "
               "starts (`opsconsole worker`, or a console that takes the engine lease)")
    finish(TIMED_OUT, state.command_id, "queued", why, err=why)


def action_options(fn: Callable) -> Callable:
    """``--wait/--no-wait``, ``--timeout``, ``--json`` and ``--as``: the options of a verb that queues a command."""
    for option in reversed((
        click.option("--wait/--no-wait", default=True, show_default=True,
                     help="Wait for the engine to execute the command and print its result."),
        click.option("--timeout", type=click.FloatRange(0), default=30.0, show_default=True, metavar="SECONDS",
                     help="How long --wait waits."),
        click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON (see below)."),
        as_option,
    )):
        fn = option(fn)
    return fn


def shown(page: Any, noun: str) -> str:
    """"1-50 of 1000+ runs" for the footer of a page (a capped count shows as N+)."""
    total = f"{page.total}{'' if getattr(page, 'exact', True) else '+'}"
    return f"{page.offset + 1}-{page.offset + len(page.rows)} of {total} {noun}"


_N_OF = re.compile(r"(\d+) of (\d+)")


def _wait(services, command_id: int, timeout: float, *, progress: bool = True):
    """Poll the command until it is no longer queued or running, or ``timeout`` passes. On stderr:
    a spinner while it waits, a progress bar once a bulk command reports "n of N"."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    deadline = time.monotonic() + max(0.0, timeout)
    err = stderr()
    # on a terminal only: a script reading stderr gets the outcome line, not bar frames
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=err, transient=False, disable=not progress or not err.is_terminal)
    with bar:
        task = bar.add_task(f"command {command_id}: waiting for the engine", total=None)
        while True:
            state = services.command(command_id)
            seen = _N_OF.search(state.result or "")
            if seen:
                done, total = int(seen.group(1)), int(seen.group(2))
                bar.update(task, completed=done, total=max(total, done),
                           description=f"command {command_id} {state.kind.removeprefix('bulk_')}")
            if state.status not in ("queued", "running") or time.monotonic() >= deadline:
                return state
            time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))
