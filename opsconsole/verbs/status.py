"""``opsconsole status``: is the engine alive, is work flowing, is anything past its SLA
(opsconsole/health.py: the same report as the ingress's ``/healthz``), read-only, for scripts and
monitoring (exit status) as much as for people."""

from __future__ import annotations

from datetime import datetime, timezone

import click
from rich import box
from rich.table import Table
from rich.text import Text

from opsconsole.verbs import _common as common

HEALTHY, DEGRADED, UNREADABLE = 0, 1, 3

EPILOG = """\b
Healthy: an engine holds a live lease and no open (unacknowledged) exception is
past its category's SLA (settings [sla]); otherwise degraded.
\b
Exit status: 0 healthy; 1 degraded (no live lease holder, or exceptions past
their SLA: the reasons are listed); 2 usage error; 3 the store cannot be read.
\b
--json prints:
  {"healthy": true|false, "status": "healthy"|"degraded", "problems": ["..."],
   "as_of": EPOCH_S,
   "lease": {"holder": NAME|null, "alive": BOOL, "fencing": N|null,
             "expires_in_s": S|null, "kind": "worker"|"console"|null},
   "last_success": {"WORKFLOW": {"at": EPOCH_S|null, "age_s": S|null}, ...},
   "queue": {"pending": N, "waiting": N, "running": N, "depth": pending+waiting},
   "oldest_open_exception": {"id": N, "category": "...", "age_s": S} | null,
   "exceptions_past_sla": {"CATEGORY": N, ...},
   "bulk_commands": [{"command": N, "kind": "bulk_replay", "actor": "alice",
                      "status": "queued"|"running", "progress": "200 of 450",
                      "queued_at": EPOCH_S}, ...]}
(bulk work the engine is going through, whoever asked: `opsconsole replay
--follow COMMAND` watches one to its end)"""


@click.command("status", epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (see below).")
def status(as_json: bool) -> None:
    """Health of the engine and the store: who holds the lease (and whether it is alive), the last
    successful run of each workflow, the queue depth and the oldest unacknowledged exception.
    Exits 1 when degraded."""
    from sqlalchemy.exc import DBAPIError

    from opsconsole import health
    from opsconsole.cli import _settings
    from opsconsole.store.db import make_engine

    settings = _settings()
    engine = make_engine(settings.store_url, write=False)
    try:
        with engine.connect() as conn:
            report = health.report(conn, settings)
            conn.rollback()
    except DBAPIError as exc:
        common.stderr().print(Text(f"cannot read the store ({exc.orig}); is it at the current schema? "
                                   "(`opsconsole db upgrade`)"))
        raise SystemExit(UNREADABLE) from None
    finally:
        engine.dispose()
    if as_json:
        common.emit_json(report)
    else:
        _print(report)
    raise SystemExit(HEALTHY if report["healthy"] else DEGRADED)


def _when(ts: float | None, age_s: float | None) -> Text:
    if ts is None:
        return Text("never", style="dim")
    at = datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Text(f"{at}  ({common.age(age_s or 0.0)} ago)")


def _print(r: dict) -> None:
    out = common.stdout()
    style = "bold green" if r["healthy"] else "bold red"
    out.print(Text(r["status"].upper(), style=style) + Text(
        "".join(f"\n  - {p}" for p in r["problems"])))
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    t.add_column("WHAT", no_wrap=True)
    t.add_column("VALUE", overflow="fold")
    lease = r["lease"]
    if lease["holder"] is None:
        t.add_row("lease holder", Text("none", style="red"))
    else:
        alive = Text("alive", style="green") if lease["alive"] else Text("expired", style="red")
        t.add_row("lease holder", common.cell(f"{lease['holder']} ({lease['kind'] or '?'}, fencing {lease['fencing']}) ")
                  + alive)
    q = r["queue"]
    t.add_row("queue depth", Text(f"{q['depth']}  (pending {q['pending']}, waiting {q['waiting']}, "
                                  f"running {q['running']})"))
    oldest = r["oldest_open_exception"]
    t.add_row("oldest open exception", Text("none", style="dim") if oldest is None else Text(
        f"#{oldest['id']} {oldest['category']}, {common.age(oldest['age_s'])} old"))
    past = r["exceptions_past_sla"]
    t.add_row("past SLA", Text("none", style="dim") if not past else Text(
        ", ".join(f"{cat}: {n}" for cat, n in past.items()), style="red"))
    for cmd in r.get("bulk_commands", []):
        t.add_row(Text(f"bulk work: command {cmd['command']}", style="cyan"),
                  common.cell(f"{cmd['kind'].removeprefix('bulk_')} by {cmd['actor']}: {cmd['progress'] or cmd['status']}"))
    for workflow, last in r["last_success"].items():
        t.add_row(Text(f"last success: {workflow}"), _when(last["at"], last["age_s"]))
    out.print(t)
