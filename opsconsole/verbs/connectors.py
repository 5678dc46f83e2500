"""``opsconsole connectors``: each connector's state and health (as the console's Connectors pane
shows them), and pausing or resuming one (a command the engine executes)."""

from __future__ import annotations

import click
from rich.text import Text

from opsconsole.verbs import _common as common

SYSTEMS = ("hubspot", "xero", "intercom")
"""The connectors an operator can pause (as :data:`opsconsole.engine.connector_state.SYSTEMS`)."""

KEYS = ("id", "paused", "changed_by", "changed_at", "reason", "waiting_steps", "last_success_at", "calls_hour",
        "errors_hour", "budget_left", "budget_limit", "blocked_for_s", "throttled", "budget_age_s", "rejected_24h",
        "last_rejection")

CONNECTOR_JSON = """\b
A connector in JSON:
  {"id": "xero", "paused": false, "changed_by": "" (who paused or last resumed it),
   "changed_at": null | "2026-11-30T09:00:00+00:00", "reason": "", "waiting_steps": 0,
   "last_success_at": null | "...", "calls_hour": 120, "errors_hour": 3, "error_rate": 2.5 | null,
   "budget_left": 57 | null, "budget_limit": 60 | null  (the engine's rate-limit governor),
   "blocked_for_s": 0.0, "throttled": 0, "budget_age_s": 4.2 | null, "rejected_24h": 0,
   "last_rejection": ""}
--json prints {"total": N, "connectors": [connector, ...]}."""


@click.group()
def connectors() -> None:
    """The connectors to HubSpot, Xero and Intercom: paused or active, calls and errors in the last
    hour, the rate-limit budget left, rejected webhooks. A paused connector's steps wait (nothing
    is dropped) until it is resumed."""


def fetch(services, *, offset: int, limit: int, search: str = ""):
    return services.connectors(offset=offset, limit=limit, text=search)


def connector_json(row) -> dict:
    doc = common.to_json(row, KEYS)
    doc["budget_age_s"] = None if row.budget_age_s is None else round(row.budget_age_s, 1)
    doc["error_rate"] = None if row.error_rate is None else round(row.error_rate, 1)
    return doc


def _ago(age_s: float | None) -> str:
    return "never" if age_s is None else f"{common.age(age_s)} ago"


@connectors.command("list", epilog=CONNECTOR_JSON)
@click.option("--json", "as_json", is_flag=True, help="Print them as JSON (see below).")
@common.as_option
def connectors_list(as_json: bool, operator: str | None) -> None:
    """List the connectors: state (who paused it, when, why), steps waiting for it, its last
    successful call, calls and errors in the last hour, the rate-limit budget the engine last
    recorded, and webhooks rejected in the last 24 hours."""
    services = common.open_services(operator)
    try:
        page = fetch(services, offset=0, limit=50)
    finally:
        services.close()
    if as_json:
        common.emit_json({"total": page.total, "connectors": [connector_json(r) for r in page.rows]})
        return
    out = common.stdout()
    rows = []
    for r in page.rows:
        state = (f"paused by {r.changed_by} {_ago(r.changed_age_s)}" + (f": {r.reason}" if r.reason else "")
                 if r.paused else "active")
        budget = "unknown" if r.budget_left is None else f"{r.budget_left}/{r.budget_limit or '?'} left"
        if r.blocked_for_s:
            budget += f", blocked {r.blocked_for_s:.0f}s"
        rate = "" if r.error_rate is None else f" ({r.error_rate:.1f}%)"
        rejected = str(r.rejected_24h) + (f", last: {r.last_rejection}" if r.last_rejection else "")
        rows.append({"CONNECTOR": Text(r.id, style="bold"),
                     "STATE": common.cell(state, "yellow" if r.paused else "green"),
                     "WAITING": Text(str(r.waiting_steps)), "LAST OK": Text(_ago(r.last_success_age_s)),
                     "CALLS/H": Text(str(r.calls_hour)), "ERRORS/H": Text(f"{r.errors_hour}{rate}"),
                     "BUDGET": Text(budget), "REJECTED 24H": common.cell(rejected)})
    groups = [("CONNECTOR",), ("STATE",), ("WAITING",), ("LAST OK",), ("CALLS/H", "ERRORS/H"), ("BUDGET",),
              ("REJECTED 24H",)]
    out.print(common.table(out, groups, rows))
    out.print(Text("pause one with `opsconsole connectors pause NAME --reason TEXT`; "
                   "resume it with `opsconsole connectors resume NAME`"))


_NAME = click.argument("system", metavar="NAME", type=click.Choice(SYSTEMS))
_REASON = click.option("--reason", default="", metavar="TEXT", help="Why (kept with the state and audited).")


def _state_verb(verb: str, doc: str) -> None:
    """``connectors pause|resume NAME``: one command the engine executes (``<verb>_connector``)."""

    @connectors.command(verb, epilog=common.ACTION_JSON_HELP + "\n\n" + common.EXIT_HELP, help=doc)
    @_NAME
    @_REASON
    @common.action_options
    def command(system: str, reason: str, wait: bool, timeout: float, as_json: bool, operator: str | None) -> None:
        services = common.open_services(operator)
        try:
            call = getattr(services, f"{verb}_connector")
            common.decide(services, lambda: call(system, reason), kind=f"{verb}_connector",
                          target=f"connector:{system}", wait=wait, timeout=timeout, as_json=as_json)
        finally:
            services.close()


_state_verb("pause", """Pause connector NAME (hubspot, xero, intercom): its steps are not sent and their runs
    wait, without counting an attempt, until it is resumed. Needs the support role.""")
_state_verb("resume", "Resume connector NAME: the runs waiting for it continue, oldest first. Needs the support role.")
