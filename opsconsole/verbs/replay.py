"""``opsconsole replay``: replay one run (after a dry run, if asked), or the runs of every exception a
filter matches (after an outage), as ONE command the engine works through in batches."""

from __future__ import annotations

import sys

import click
from rich.text import Text

from opsconsole.verbs import _common as common

MAPPINGS = ("original", "current")

PLAN_JSON = """\b
--dry-run --json prints the plan (nothing is queued):
  {"run": 7, "workflow": "quote_to_order", "business_key": "...", "from_step": "create_invoice",
   "mapping_version": "2", "steps": [{"name": "...", "system": "xero", "operation": "...",
   "idempotency_key": "...", "verdict": "will be sent" | "already in the ERP — will be skipped" | ...,
   "payload": {...}, "diff": ["- ...", "+ ..."]}, ...], "problems": ["..."]}
Exit status of a dry run: 0 the replay would pass validation; 1 it would not (see "problems"),
or the run cannot be planned."""

EPILOG = f"""\b
Examples:
  opsconsole replay 7 --dry-run                 what replaying run 7 would send, and its diff
  opsconsole replay 7 --from-step create_invoice --mapping current
  opsconsole replay --filter "category:downstream_5xx system:xero age:<2h" --yes

\b
With --filter (the grammar of the console's `/`, see `opsconsole exceptions list --help`), the
runs of the matching open and acknowledged exceptions are replayed, each from --from-step (default:
its failed step; a run whose workflow has no such step is skipped) with the --mapping given. The
count is previewed first (--dry-run: only that); --yes queues it without asking. The engine works
through it in batches: killing this command (or losing the SSH session) does not stop it; every
console's status line, `opsconsole status` and `opsconsole replay --follow COMMAND` show its progress. Replaying needs
the support role.

{PLAN_JSON}

{common.ACTION_JSON_HELP}

{common.EXIT_HELP}"""


@click.command(epilog=EPILOG)
@click.argument("run_id", metavar="[RUN_ID]", type=int, required=False)
@click.option("--from-step", default="", metavar="STEP", help="The step to start from (default: the failed one).")
@click.option("--mapping", type=click.Choice(MAPPINGS), default="original", show_default=True,
              help="The mapping version the run ran with, or the current one.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent, and nothing is queued.")
@click.option("--filter", "filter_text", default=None, metavar="TEXT",
              help="Replay the runs of every exception this filter matches, instead of one RUN_ID.")
@click.option("--yes", is_flag=True, help="With --filter: queue it without asking (after the preview).")
@click.option("--follow", "follow_id", type=int, default=None, metavar="COMMAND",
              help="Only watch a bulk replay already queued (by anyone) until it ends.")
@common.action_options
def replay(run_id: int | None, from_step: str, mapping: str, dry_run: bool, filter_text: str | None, yes: bool,
           follow_id: int | None, wait: bool, timeout: float, as_json: bool, operator: str | None) -> None:
    """Replay a failed or stuck run from a step, with its original or the current mapping; or,
    with --filter, the runs of many exceptions at once (after an outage)."""
    chosen = [x for x in (run_id is not None, filter_text is not None, follow_id is not None) if x]
    if len(chosen) != 1:
        raise click.UsageError("give one of RUN_ID, --filter TEXT or --follow COMMAND")
    if yes and filter_text is None:
        raise click.UsageError("--yes goes with --filter (one run needs no confirmation)")
    services = common.open_services(operator)
    try:
        if follow_id is not None:
            common.follow(services, follow_id, timeout=timeout, as_json=as_json)
        elif filter_text is not None:
            _bulk(services, filter_text, from_step, mapping, dry_run, yes, wait, timeout, as_json)
        elif dry_run:
            _dry_run(services, run_id, from_step, mapping, as_json)
        else:
            common.decide(services, lambda: services.replay(run_id, from_step, mapping), kind="replay",
                          target=f"run:{run_id}", wait=wait, timeout=timeout, as_json=as_json)
    finally:
        services.close()


def _bulk(services, text: str, from_step: str, mapping: str, dry_run: bool, yes: bool, wait: bool,
          timeout: float, as_json: bool) -> None:
    from opsconsole.verbs.exceptions import bulk_action

    bulk_action(services, "replay", text, yes, wait, timeout, as_json, reason="", to=None,
                       from_step=from_step, mapping=mapping, preview_only=dry_run)


def _dry_run(services, run_id: int, from_step: str, mapping: str, as_json: bool) -> None:
    try:
        plan = services.plan_replay(run_id, from_step or None, mapping)
    except KeyError as exc:
        click.echo(f"cannot plan: {exc.args[0] if exc.args else exc}", err=True)
        sys.exit(common.REFUSED)
    except Exception as exc:  # the source systems are read over the network
        click.echo(f"cannot plan the replay of run {run_id}: {type(exc).__name__}: {exc}", err=True)
        sys.exit(common.REFUSED)
    if as_json:
        common.emit_json({"run": plan.run_id, "workflow": plan.workflow, "business_key": plan.business_key,
                          "from_step": plan.from_step, "mapping_version": plan.mapping_version,
                          "steps": [{"name": s.name, "system": s.system, "operation": s.operation,
                                     "idempotency_key": s.idempotency_key, "verdict": s.verdict,
                                     "payload": s.payload, "diff": s.diff} for s in plan.steps],
                          "problems": plan.problems})
    else:
        _print_plan(plan, mapping)
    sys.exit(common.REFUSED if plan.problems else common.DONE)


def _print_plan(plan, mapping: str) -> None:
    out = common.stdout()
    out.print(common.cell(f"replay of run {plan.run_id} ({plan.workflow} {plan.business_key}) from "
                          f"{plan.from_step}, mapping {plan.mapping_version} ({mapping}) — dry run, nothing queued",
                          "bold"))
    for i, step in enumerate(plan.steps, 1):
        line = common.cell(f"{i}. {step.name}  {step.system} {step.operation}  key {step.idempotency_key}")
        out.print(line)
        out.print(Text("   → ", style="dim") + common.cell(step.verdict, "bold"))
        for diff_line in step.diff:
            out.print(common.cell("   " + diff_line, {"+": "green", "-": "red"}.get(diff_line[:1], "dim")))
    for problem in plan.problems:
        out.print(common.cell(f"problem: {problem}", "bold red"))
