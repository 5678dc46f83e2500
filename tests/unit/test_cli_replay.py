"""`opsconsole replay`: one run (step and mapping chosen), or the runs of every exception a filter
matches as ONE bulk command the engine works through, which survives the CLI being killed mid-way;
the preview, the role refusal and `--follow` from another terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from sqlalchemy import func, insert, select

from canonical.mapping import current_version
from opsconsole.engine import exception_commands
from opsconsole.store.tables import commands, exceptions, runs

from .test_cli_governance import cli, store  # noqa: F401 (the fixture)

T0 = time.time() - 3600


def _seed(store, n: int, *, category: str = "downstream_5xx") -> None:
    run_rows = [dict(id=i, workflow="quote_to_order", business_key=f"Q-{i}", account_key=f"a{i}",
                     correlation_id=f"{i:032x}", status="failed", current_step="create_invoice", mapping_version="1",
                     attempt=1, created_at=T0 + i, updated_at=T0 + i, last_error="Xero 503", context={})
                for i in range(1, n + 1)]
    exc_rows = [dict(id=i, run_id=i, workflow="quote_to_order", business_key=f"Q-{i}", correlation_id=f"{i:032x}",
                     category=category, system="xero", state="open", title="xero failed", last_error="Xero 503",
                     payload={}, owner="", created_at=T0 + i, updated_at=T0 + i) for i in range(1, n + 1)]
    with store.eng.begin() as c:
        c.execute(insert(runs), run_rows)
        c.execute(insert(exceptions), exc_rows)


def _runs(store) -> dict[int, dict]:
    with store.eng.connect() as c:
        return {r["id"]: dict(r) for r in c.execute(select(runs)).mappings()}


def _commands(store) -> list[dict]:
    with store.eng.connect() as c:
        return [dict(r) for r in c.execute(select(commands).order_by(commands.c.id)).mappings()]


def _engine_pass(store) -> list[int]:
    """One pass of the engine's command loop over the bulk command (one batch)."""
    with store.eng.begin() as c:
        cmd = dict(c.execute(select(commands).where(commands.c.status.in_(("queued", "running")))).mappings().first())
        started = exception_commands.execute(c, store.audit, cmd, store.settings.has_role)
    store.audit.flush_head()
    return started


def test_one_run_from_a_chosen_step_with_the_current_mapping(store):
    _seed(store, 3)
    with store.engine_running():
        r = cli("replay", 2, "--from-step", "create_sales_order", "--mapping", "current", "--as", "sam", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["kind"], doc["target"], doc["status"]) == ("replay", "run:2", "done")
    assert doc["result"] == f"replay of run 2 from step create_sales_order with mapping {current_version()}"
    run = _runs(store)[2]
    assert (run["status"], run["attempt"], run["mapping_version"]) == ("pending", 2, current_version())
    assert _runs(store)[1]["status"] == "failed"


def test_replay_needs_the_support_role_and_queues_nothing_without_it(store):
    _seed(store, 2)
    r = cli("replay", 1, "--as", "fiona")
    assert (r.exit_code, r.stderr) == (1, "refused: not yours to replay: fiona does not hold the support role\n")
    r = cli("replay", "--filter", "category:downstream_5xx", "--yes", "--as", "fiona", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["status"] == "refused"
    assert _commands(store) == []


def test_a_missing_run_or_step_is_refused_before_anything_is_queued(store):
    _seed(store, 1)
    r = cli("replay", 99, "--as", "sam")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "refused: no run 99\n")
    r = cli("replay", 1, "--from-step", "invoice", "--as", "sam")
    assert (r.exit_code, r.stdout) == (1, "")
    assert r.stderr == ("refused: workflow quote_to_order has no step 'invoice' (steps: validate, upsert_contact, "
                        "create_sales_order, accept_sales_order, create_billing_schedule, create_invoice, "
                        "notify_onboarding)\n")
    r = cli("replay", 1, "--from-step", "invoice", "--dry-run", "--as", "sam")
    assert (r.exit_code, r.stderr) == (1, "cannot plan: workflow quote_to_order has no step 'invoice' (steps: "
                                          "validate, upsert_contact, create_sales_order, accept_sales_order, "
                                          "create_billing_schedule, create_invoice, notify_onboarding)\n")
    assert _commands(store) == []


def test_usage_errors_exit_2(store):
    assert cli("replay", "--as", "sam").exit_code == 2  # neither a run nor a filter
    assert cli("replay", 1, "--filter", "x", "--as", "sam").exit_code == 2
    assert cli("replay", 1, "--yes", "--as", "sam").exit_code == 2
    assert cli("replay", 1, "--mapping", "newest", "--as", "sam").exit_code == 2
    assert cli("replay", "--filter", "age:soon", "--yes", "--as", "sam").exit_code == 2


def test_a_filter_previews_the_count_and_queues_nothing_without_yes(store):
    _seed(store, 4)
    _seed_other = [dict(id=99, run_id=None, workflow="company_to_contact", business_key="C-1", correlation_id="",
                        category="validation", system="hubspot", state="open", title="bad", last_error="x",
                        payload={}, owner="", created_at=T0, updated_at=T0)]
    with store.eng.begin() as c:
        c.execute(insert(exceptions), _seed_other)
    r = cli("replay", "--filter", "category:downstream_5xx system:xero", "--dry-run", "--as", "sam", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert (doc["status"], doc["command"]) == ("preview", None)
    assert doc["preview"] == {"filter": "category:downstream_5xx system:xero", "total": 4, "without_run": 0,
                              "by_category": {"downstream_5xx": 4}, "by_state": {"open": 4}}
    assert doc["result"] == "Replay the runs of 4 exceptions (downstream_5xx: 4)?"
    r = cli("replay", "--filter", "state:open", "--dry-run", "--as", "sam")  # the malformed event has no run
    assert r.exit_code == 0 and r.stdout.splitlines() == [
        "Replay the runs of 5 exceptions (downstream_5xx: 4, validation: 1)?", "now: 5 open",
        "1 will be skipped (malformed events: no run to replay)",
        "each run from its failed step, with the mapping it ran with"]
    r = cli("replay", "--filter", "category:downstream_5xx", "--as", "sam")  # not a terminal, no --yes
    assert r.exit_code == 1 and "add --yes" in r.stderr
    assert "each run from its failed step, with the mapping it ran with" in r.stdout
    assert _commands(store) == []


def test_a_bulk_replay_survives_the_cli_being_killed_and_completes(store, tmp_path):
    n = exception_commands.BULK_BATCH * 2 + 50
    _seed(store, n)
    env = {**os.environ, "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "opsconsole.cli", "replay", "--filter", "category:downstream_5xx",
                             "--mapping", "current", "--yes", "--as", "sam", "--timeout", "120"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not _commands(store):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the CLI never queued its command"
            time.sleep(0.05)
        _engine_pass(store)  # the first batch, while the CLI watches
        (cmd,) = _commands(store)
        assert (cmd["kind"], cmd["status"], cmd["result"]) == ("bulk_replay", "running",
                                                               f"{exception_commands.BULK_BATCH} of {n}")
        # any other terminal sees it
        doc = json.loads(cli("status", "--json").stdout)
        assert [(c["command"], c["kind"], c["actor"], c["status"], c["progress"]) for c in doc["bulk_commands"]] == [
            (cmd["id"], "bulk_replay", "sam", "running", f"{exception_commands.BULK_BATCH} of {n}")]
        os.kill(proc.pid, signal.SIGKILL)  # the SSH session drops
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    started = []
    while _commands(store)[0]["status"] == "running":
        started += _engine_pass(store)
    (cmd,) = _commands(store)
    assert (cmd["status"], cmd["result"]) == ("done", f"replayed {n} of {n}")
    runs_now = _runs(store)
    assert {r["status"] for r in runs_now.values()} == {"pending"}
    assert {r["mapping_version"] for r in runs_now.values()} == {current_version()}
    with store.eng.connect() as c:
        assert c.scalar(select(func.count()).select_from(exceptions).where(exceptions.c.state == "open")) == n
    # another terminal follows the finished command
    r = cli("replay", "--follow", cmd["id"], "--json", "--as", "sam")
    assert r.exit_code == 0 and json.loads(r.stdout)["status"] == "done"
    assert cli("replay", "--follow", 999, "--as", "sam").exit_code == 1


def test_follow_of_a_running_command_exits_3_when_it_does_not_finish_in_time(store):
    _seed(store, exception_commands.BULK_BATCH + 1, category="rate_limit")
    assert cli("replay", "--filter", "category:rate_limit", "--yes", "--no-wait", "--as", "sam").exit_code == 0
    _engine_pass(store)
    r = cli("replay", "--follow", 1, "--timeout", "0.2", "--as", "sam", "--json")
    doc = json.loads(r.stdout)
    assert (r.exit_code, doc["status"]) == (3, "running")
    assert doc["result"].startswith(f"command 1 is still running ({exception_commands.BULK_BATCH} of ")
