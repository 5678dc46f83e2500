"""`opsconsole runs`, `opsconsole exceptions` and `opsconsole trace` against a real migrated store
seeded with runs, steps, exceptions and spans: JSON shapes with exact ids and counts, the console's
filters, PII masking, actions queued as commands the engine executes (one, or every exception a
filter matches after a count preview and --yes), refusals that queue nothing, and the exit codes
(0 done, 1 refused/failed/nothing found, 2 usage, 3 not executed in time)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import insert, select

from opsconsole.settings import load_settings
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import exceptions, runs, spans, steps
from tests.unit.test_cli_governance import Store as GovernanceStore
from tests.unit.test_cli_governance import cli, lines

QTO = ("validate", "upsert_contact", "create_sales_order", "accept_sales_order", "create_billing_schedule",
       "create_invoice")
CORR = {1: "a1" * 16, 2: "b2" * 16, 3: "c3" * 16, 4: "d4" * 16}
PAYLOAD = {"InvoiceNumber": "INV-0042", "contact": {"name": "Jane Doe", "email": "jane@example.com"}}


class Store(GovernanceStore):
    """The governance tests' store, seeded with the runs, steps, exceptions and spans of four
    business transactions."""

    def seed(self) -> None:
        now = time.time()
        with self.eng.begin() as c:
            def run(rid, workflow, key, status, step="", error="", age=0.0):
                c.execute(insert(runs).values(id=rid, workflow=workflow, business_key=key, correlation_id=CORR[rid],
                                              status=status, current_step=step, mapping_version="1",
                                              created_at=now - 600 + rid + age, updated_at=now - 60, last_error=error,
                                              context={}))

            def step(rid, seq, name, system, status, attempts=1, error="", category=""):
                c.execute(insert(steps).values(run_id=rid, seq=seq, name=name, target_system=system,
                                               operation=f"{system}.{name}", idempotency_key=f"k:{rid}:{name}",
                                               status=status, attempts=attempts, request={"n": seq}, response=None,
                                               error=error, error_category=category, started_at=now - 500,
                                               finished_at=now - 499.9))

            def exception(eid, rid, workflow, key, category, system, state="open", owner="", error="", payload=None):
                c.execute(insert(exceptions).values(
                    id=eid, run_id=rid, workflow=workflow, business_key=key, correlation_id=CORR.get(rid, ""),
                    category=category, system=system, state=state, title=f"{category} in {system}",
                    last_error=error or f"{system} said no", payload=payload, owner=owner,
                    created_at=now - 400 + eid, updated_at=now - 400 + eid))

            run(1, "quote_to_order", "hubspot:quote:1001", "succeeded", "create_invoice")
            for seq, name in enumerate(QTO):
                step(1, seq, name, "engine" if seq == 0 else "xero", "succeeded")
            run(2, "quote_to_order", "hubspot:quote:1002", "failed", "create_invoice",
                "Xero 422: invalid tax rate OUTPUT9")
            for seq, name in enumerate(QTO):
                step(2, seq, name, "engine" if seq == 0 else "xero", "failed" if seq == 5 else "succeeded",
                     attempts=3 if seq == 5 else 1, error="invalid tax rate OUTPUT9" if seq == 5 else "",
                     category="rejected_by_target" if seq == 5 else "")
            run(3, "company_to_contact", "hubspot:company:9001", "failed", "upsert_contact", "timed out")
            step(3, 0, "validate", "engine", "succeeded")
            step(3, 1, "upsert_contact", "xero", "failed", attempts=5, error="timed out", category="timeout")
            run(4, "invoice_feedback", "xero:invoice:abc-123", "waiting", "update_crm_company")
            exception(1, 2, "quote_to_order", "hubspot:quote:1002", "rejected_by_target", "xero",
                      error="Xero 422: invalid tax rate OUTPUT9", payload=PAYLOAD)
            exception(2, 3, "company_to_contact", "hubspot:company:9001", "timeout", "xero")
            exception(3, None, "quote_to_order", "", "validation", "hubspot", error="amount is not a number")
            exception(4, 3, "company_to_contact", "hubspot:company:9001", "rate_limit", "xero", state="resolved",
                      owner="sam")
            for n, (system, op, status, http, at) in enumerate([
                    ("hubspot", "GET /crm/v3/objects/quotes/1002", "ok", 200, 0.0),
                    ("xero", "POST /Contacts", "ok", 200, 0.1),
                    ("xero", "POST /Invoices", "error", 422, 0.25)]):
                c.execute(insert(spans).values(correlation_id=CORR[2], span_id=f"{n:016x}", run_id=2, system=system,
                                               operation=op, status=status, http_status=http,
                                               started_at=now - 30 + at, duration_ms=40.0 + n))

    def exception_state(self, eid):
        with self.eng.connect() as c:
            return tuple(c.execute(select(exceptions.c.state, exceptions.c.owner, exceptions.c.resolution)
                                   .where(exceptions.c.id == eid)).one())


def seeded_store(tmp_path, monkeypatch):
    """The ``store`` fixture (test_cli_connectors_audit_export.py uses it too): roles sam (support),
    fiona (finance), pat (support, pii), frank (finance, support); the OS account is sam."""
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "sqlite:///{tmp_path}/s.db"\nvar_dir = "{tmp_path}"\n'
                      'audit_key = "env:TEST_AUDIT_KEY"\n\n[roles]\nsam = ["support"]\nfiona = ["finance"]\n'
                      'pat = ["support", "pii"]\nfrank = ["finance", "support"]\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    monkeypatch.setenv("TEST_AUDIT_KEY", "k" * 32)
    monkeypatch.setattr("opsconsole.settings.os_account", lambda: "sam")
    monkeypatch.setenv("COLUMNS", "220")
    for name in ("OPSCONSOLE_OPERATOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(config)
    upgrade(settings.store_url)
    s = Store(settings)
    s.seed()
    yield s
    s.eng.dispose()


store = pytest.fixture(name="store")(seeded_store)


def doc_of(*args, code=0):
    r = cli(*args)
    assert r.exit_code == code, (r.exit_code, r.output)
    return json.loads(r.stdout)


def ids(rows):
    return [row["id"] for row in rows]


# --- runs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,expected,total", [
    ([], [4, 3, 2, 1], 4),
    (["--status", "failed"], [3, 2], 2),
    (["--status", "failed", "--status", "waiting"], [4, 3, 2], 3),
    (["--workflow", "quote_to_order"], [2, 1], 2),
    (["--workflow", "quote_to_order", "--status", "failed"], [2], 1),
    (["1002"], [2], 1),
    (["invalid", "tax"], [2], 1),  # a sparse term: answered from the full-text index
    (["--workflow", "company_to_contact", "timed"], [3], 1),
    (["--limit", "1", "--offset", "1"], [3], 4),
])
def test_runs_list_json_filters_and_pages(store, args, expected, total):
    doc = doc_of("runs", "list", "--json", *args)
    assert ids(doc["runs"]) == expected
    assert (doc["total"], doc["exact"]) == (total, True)


def test_the_statuses_the_cli_offers_are_the_searchs():
    from opsconsole import run_search
    from opsconsole.verbs.runs import STATUSES

    assert STATUSES == run_search.STATUSES


def test_runs_list_json_shape(store):
    (run,) = doc_of("runs", "list", "--json", "1002")["runs"]
    assert run.pop("created_at") and run.pop("updated_at") and isinstance(run.pop("age_s"), float)
    assert run == {"id": 2, "workflow": "quote_to_order", "business_key": "hubspot:quote:1002", "status": "failed",
                   "current_step": "create_invoice", "attempt": 1, "retries": 2, "mapping_version": "1",
                   "correlation_id": CORR[2], "last_error": "Xero 422: invalid tax rate OUTPUT9"}


def test_runs_list_table_and_empty(store):
    r = cli("runs", "list", "--status", "failed")
    assert r.exit_code == 0, r.output
    out = lines(r.stdout)
    assert out[0].split() == ["ID", "WORKFLOW", "KEY", "STATUS", "STEP", "RETRIES", "AGE", "LAST", "ERROR"]
    assert out[2].split()[:6] == ["3", "company_to_contact", "hubspot:company:9001", "failed", "upsert_contact", "4"]
    assert out[-1] == "1-2 of 2 runs; see one with `opsconsole runs show ID`"
    assert lines(cli("runs", "list", "--status", "pending", "zzz").stdout) == ["no runs status pending matching 'zzz'"]


@pytest.mark.parametrize("args,message", [
    (["--workflow", "nope"], "Invalid value for '--workflow': no workflow 'nope' (workflows: "),
    (["--status", "lost"], "Invalid value for '--status': 'lost' is not one of "),
    (["--limit", "0"], "Invalid value for '--limit': 0 is not in the range 1<=x<=500."),
])
def test_runs_list_usage_errors_exit_2(store, args, message):
    r = cli("runs", "list", *args)
    assert r.exit_code == 2 and r.stderr.splitlines()[-1].startswith(f"Error: {message}"), r.stderr


def test_runs_show_json_text_and_a_missing_run(store):
    doc = doc_of("runs", "show", 2, "--json")
    assert doc["run"]["id"] == 2 and doc["event"] is None
    assert [(s["seq"], s["name"], s["status"], s["attempts"]) for s in doc["steps"]][-2:] == [
        (4, "create_billing_schedule", "succeeded", 1), (5, "create_invoice", "failed", 3)]
    assert doc["steps"][5]["error_category"] == "rejected_by_target" and doc["steps"][5]["request"] == {"n": 5}
    assert [(e["id"], e["category"], e["state"]) for e in doc["exceptions"]] == [(1, "rejected_by_target", "open")]
    assert [(s["system"], s["http_status"]) for s in doc["spans"]] == [("hubspot", 200), ("xero", 200), ("xero", 422)]
    r = cli("runs", "show", 2)
    assert r.exit_code == 0, r.output
    out = lines(r.stdout)
    assert out[0] == "run 2: quote_to_order hubspot:quote:1002"
    assert "status       failed" in out and "attempt      1 (2 retries over its steps)" in out
    assert any(line.split()[:5] == ["5", "create_invoice", "xero.create_invoice", "xero", "failed"]
               and "[rejected_by_target] invalid tax" in line for line in out)
    assert "exception 1: rejected_by_target in xero, open: Xero 422: invalid tax rate OUTPUT9" in out
    assert out[-1] == f"3 spans in its trace (hubspot 1, xero 2): `opsconsole trace {CORR[2]}` shows them"
    missing = cli("runs", "show", 99)
    assert (missing.exit_code, missing.stderr) == (1, "Error: no run 99\n")


# --- exceptions: reading ------------------------------------------------------------------------------
@pytest.mark.parametrize("args,expected,total", [
    ([], [3, 2, 1], 3),
    (["category:timeout"], [2], 1),
    (["--filter", "system:xero", "state:all"], [4, 2, 1], 3),
    (["system:xero", "invalid", "tax"], [1], 1),
    (['"said no"'], [2], 1),
    (["owner:sam", "state:resolved"], [4], 1),
    (["--sort", "oldest"], [1, 2, 3], 3),
    (["--limit", "2", "--offset", "1"], [2, 1], 3),
])
def test_exceptions_list_json_uses_the_console_filter(store, args, expected, total):
    doc = doc_of("exceptions", "list", "--json", *args)
    assert (ids(doc["exceptions"]), doc["total"]) == (expected, total)


def test_exceptions_list_json_shape_and_table(store):
    doc = doc_of("exceptions", "list", "--json", "category:timeout")
    assert (doc["filter"], doc["sort"], doc["offset"], doc["limit"]) == ("category:timeout", "newest", 0, 50)
    (row,) = doc["exceptions"]
    assert row.pop("created_at") and isinstance(row.pop("age_s"), float)
    assert row == {"id": 2, "run_id": 3, "workflow": "company_to_contact", "business_key": "hubspot:company:9001",
                   "category": "timeout", "system": "xero", "state": "open", "title": "timeout in xero",
                   "last_error": "xero said no", "owner": "", "correlation_id": CORR[3]}
    out = lines(cli("exceptions", "list").stdout)
    assert out[0].split() == ["ID", "CATEGORY", "SYSTEM", "WORKFLOW", "KEY", "STATE", "OWNER", "AGE", "ERROR"]
    assert out[2].split()[:7] == ["3", "validation", "hubspot", "quote_to_order", "-", "open", "-"]
    assert out[-1] == "1-3 of 3 exceptions; see one with `opsconsole exceptions show ID`"


@pytest.mark.parametrize("args,message", [
    (["foo:bar"], "filter: unknown filter foo: — use workflow:, category:, system:, state:, owner:, age: or "
                  "plain text"),
    (["category:nope"], "filter: category:nope is not a category — one of validation, rate_limit, auth, "
                        "downstream_5xx, timeout, rejected_by_target, sequencing"),
    (["--sort", "biggest"], "Invalid value for '--sort': 'biggest' is not one of 'newest', 'oldest', 'category', "
                            "'workflow'."),
])
def test_exceptions_list_bad_filter_is_a_usage_error(store, args, message):
    r = cli("exceptions", "list", *args)
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (2, f"Error: {message}")


@pytest.mark.parametrize("operator,payload,masked,why_not", [
    ("sam", {"InvoiceNumber": "INV-0042", "contact": {"name": "•••", "email": "•••"}}, 2, ""),
    ("pat", PAYLOAD, 0, ""),
    ("fiona", {"InvoiceNumber": "INV-0042", "contact": {"name": "•••", "email": "•••"}}, 2,
     "fiona does not hold the support role"),
])
def test_exceptions_show_masks_personal_data_without_the_pii_role(store, operator, payload, masked, why_not):
    doc = doc_of("exceptions", "show", 1, "--json", "--as", operator)
    assert (doc["id"], doc["payload"], doc["masked"], doc["may_act"], doc["why_not"]) == (
        1, payload, masked, not why_not, why_not)
    assert doc["suggested_action"].startswith("The target refused the request as sent")
    assert [s["operation"] for s in doc["spans"]] == ["GET /crm/v3/objects/quotes/1002", "POST /Contacts",
                                                      "POST /Invoices"]


def test_exceptions_show_text_and_a_missing_one(store):
    r = cli("exceptions", "show", 1)
    assert r.exit_code == 0, r.output
    assert "jane" not in r.stdout and "Jane" not in r.stdout
    out = lines(r.stdout)
    assert out[0] == "exception 1: rejected_by_target in xero (open)"
    assert "run          2 (`opsconsole runs show 2`)" in out
    assert f"trace        3 spans (`opsconsole trace {CORR[2]}`)" in out
    assert "payload (2 personal-data values masked: the pii role shows them)" in out
    assert '    "email": "•••"' in out
    assert (cli("exceptions", "show", 99).exit_code, cli("exceptions", "show", 99).stderr) == (
        1, "Error: no exception 99\n")


# --- exceptions: one at a time ----------------------------------------------------------------------
def test_ack_waits_for_the_engine(store):
    with store.engine_running():
        doc = doc_of("exceptions", "ack", 1, "--json")
    assert doc == {"command": 1, "kind": "acknowledge", "target": "exception:1", "status": "done",
                   "result": "exception 1 acknowledged"}
    assert store.exception_state(1) == ("acknowledged", "sam", "")


def test_assign_resolve_and_retry(store):
    with store.engine_running():
        r = cli("exceptions", "assign", 2, "--to", "pat")
        assert (r.exit_code, r.stdout) == (0, "exception 2 assigned to pat\n")
        r = cli("exceptions", "resolve", 2, "--reason", "Xero was down; fixed by hand")
        assert (r.exit_code, r.stdout) == (0, "exception 2 resolved\n")
        r = cli("exceptions", "retry", 1)
        assert (r.exit_code, r.stdout) == (0, "retry of run 2 from step create_invoice\n")
    assert store.exception_state(2) == ("resolved", "pat", "Xero was down; fixed by hand")
    assert doc_of("runs", "show", 2, "--json")["run"]["status"] == "pending"


def test_no_wait_queues_and_timeout_exits_3(store):
    doc = doc_of("exceptions", "resolve", 1, "--reason", "dup", "--no-wait", "--json")
    assert doc == {"command": 1, "kind": "resolve", "target": "exception:1", "status": "queued",
                   "result": "resolve of exception 1 queued (command 1)"}
    r = cli("exceptions", "ack", 2, "--timeout", "0")
    assert r.exit_code == 3 and "command 2 stays queued" in r.stderr
    assert store.queued() == 2


@pytest.mark.parametrize("args,message", [
    (["ack", 1, "--as", "fiona"], "not yours to acknowledge: fiona does not hold the support role"),
    (["retry", 3], "exception 3 is a malformed event with no run: fix the sender"),
    (["resolve", 4, "--reason", "again"], "exception 4 is resolved: nothing to resolve"),
    (["assign", 1, "--to", "mallory"], "mallory is not a known operator (known: fiona, frank, pat, sam): add them "
                                       "to roles in the settings file"),
    (["ack", 99], "no exception 99"),
    (["retry", 99], "no exception 99"),
])
def test_refused_actions_exit_1_and_queue_nothing(store, args, message):
    r = cli("exceptions", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"refused: {message}\n")
    assert store.commands() == 0


@pytest.mark.parametrize("args,message", [
    (["ack"], "give an exception ID or --filter TEXT"),
    (["ack", 1, "--filter", "state:open"], "give an exception ID or --filter TEXT (not both)"),
    (["ack", 1, "--yes"], "--yes goes with --filter (one ID needs no confirmation)"),
    (["resolve", 1], "Missing option '--reason'."),
    (["resolve", 1, "--reason", " "], "Invalid value for '--reason': resolving needs a reason"),
    (["ack", "--filter", "colour:red", "--yes"], "--filter: unknown filter colour: — use workflow:, category:, "
                                                 "system:, state:, owner:, age: or plain text"),
])
def test_action_usage_errors_exit_2(store, args, message):
    r = cli("exceptions", *args)
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (2, f"Error: {message}")
    assert store.commands() == 0


# --- exceptions: in bulk ----------------------------------------------------------------------------
def test_bulk_without_yes_previews_the_count_and_queues_nothing(store):
    r = cli("exceptions", "resolve", "--filter", "system:xero", "--reason", "outage over")
    assert r.exit_code == 1
    assert lines(r.stdout) == ["Resolve 2 exceptions (rejected_by_target: 1, timeout: 1)?", "now: 2 open",
                               "reason: outage over"]
    assert r.stderr == "refused: not queued: add --yes to resolve these 2 exceptions\n"
    doc = doc_of("exceptions", "ack", "--filter", "state:all", "--json", code=1)
    assert doc == {"command": None, "kind": "bulk_acknowledge", "target": "exceptions:filter", "status": "refused",
                   "result": "not queued: add --yes to acknowledge these 4 exceptions",
                   "preview": {"filter": "state:all", "total": 4, "without_run": 1, "by_state": {"open": 3, "resolved": 1},
                               "by_category": {"rate_limit": 1, "rejected_by_target": 1, "timeout": 1,
                                               "validation": 1}}}
    assert store.commands() == 0


def test_bulk_with_yes_queues_one_command_the_engine_executes(store):
    with store.engine_running():
        doc = doc_of("exceptions", "resolve", "--filter", "system:xero", "--reason", "outage over", "--yes", "--json")
    assert doc == {"command": 1, "kind": "bulk_resolve", "target": "exceptions:filter", "status": "done",
                   "result": "resolved 2 of 2",
                   "preview": {"filter": "system:xero", "total": 2, "without_run": 0, "by_state": {"open": 2},
                               "by_category": {"rejected_by_target": 1, "timeout": 1}}}
    assert [store.exception_state(i)[0] for i in (1, 2, 3)] == ["resolved", "resolved", "open"]
    with store.engine_running():
        r = cli("exceptions", "assign", "--filter", "category:validation", "--to", "pat", "--yes")
    assert (r.exit_code, lines(r.stdout)) == (0, ["Assign 1 exception (validation: 1)?", "now: 1 open", "owner: pat",
                                                  "assigned 1 of 1 to pat"])
    assert store.exception_state(3) == ("acknowledged", "pat", "")


@pytest.mark.parametrize("answer,code", [("n\n", 1), ("y\n", 0)])
def test_bulk_on_a_terminal_asks_after_the_preview(store, monkeypatch, answer, code):
    from click.testing import CliRunner

    from opsconsole.cli import main

    monkeypatch.setattr("opsconsole.verbs.exceptions.interactive", lambda: True)
    r = CliRunner().invoke(main, ["exceptions", "ack", "--filter", "category:timeout", "--no-wait"], input=answer)
    assert r.exit_code == code, r.output
    assert lines(r.stdout)[:2] == ["now: 1 open", f"Acknowledge 1 exception (timeout: 1)? [y/N]: {answer[0]}"]
    if code:
        assert r.stderr == "refused: not confirmed: nothing queued\n" and store.commands() == 0
    else:
        assert lines(r.stdout)[2] == "acknowledge of 1 exceptions queued (command 1)" and store.queued() == 1


@pytest.mark.parametrize("args,message", [
    (["retry", "--filter", "category:auth", "--yes"], "no exceptions match 'category:auth': nothing to do"),
    (["retry", "--filter", "", "--yes", "--as", "fiona"], "not yours to retry: fiona does not hold the support role"),
    (["assign", "--filter", "", "--to", "nobody", "--yes"],
     "nobody is not a known operator (known: fiona, frank, pat, sam): add them to roles in the settings file"),
])
def test_bulk_refusals_exit_1(store, args, message):
    r = cli("exceptions", *args)
    assert (r.exit_code, r.stderr) == (1, f"refused: {message}\n")
    assert store.commands() == 0


# --- trace ------------------------------------------------------------------------------------------
def test_trace_by_correlation_id_shows_the_timeline_of_spans(store):
    doc = doc_of("trace", CORR[2], "--json")
    assert (doc["query"], doc["truncated"], doc["chosen"]) == (CORR[2], False, 2)
    assert [(m["via"], m["run"]["id"]) for m in doc["matches"]] == [("correlation id", 2)]
    assert [(s["system"], s["operation"], s["http_status"], s["offset_ms"]) for s in doc["trace"]["spans"]] == [
        ("hubspot", "GET /crm/v3/objects/quotes/1002", 200, 0.0), ("xero", "POST /Contacts", 200, 100.0),
        ("xero", "POST /Invoices", 422, 250.0)]
    assert len(doc["trace"]["steps"]) == 6 and ids(doc["trace"]["exceptions"]) == [1]
    r = cli("trace", CORR[2])
    assert r.exit_code == 0, r.output
    out = lines(r.stdout)
    assert out[0] == "run 2: quote_to_order hubspot:quote:1002"
    assert f"spans of trace {CORR[2]}: 3" in out
    timeline = [line.split()[:6] for line in out[out.index(f"spans of trace {CORR[2]}: 3") + 3:]]
    assert [[t[0], t[2], t[3], t[4]] for t in timeline] == [
        ["0", "hubspot", "0000000000000000", "GET"], ["100", "xero", "0000000000000001", "POST"],
        ["250", "xero", "0000000000000002", "POST"]]


def test_trace_by_bare_id_and_business_key_prefix(store):
    doc = doc_of("trace", "1002", "--json")
    assert [(m["via"], m["run"]["id"]) for m in doc["matches"]] == [("hubspot quote 1002", 2)]
    doc = doc_of("trace", "hubspot:company:9001", "--json")
    assert (doc["chosen"], doc["trace"]["spans"]) == (3, [])


def test_trace_finds_nothing_exit_1_and_usage_errors_exit_2(store):
    r = cli("trace", "no-such-thing", "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout) == {"query": "no-such-thing", "truncated": False, "matches": [], "chosen": None,
                                    "trace": None}
    r = cli("trace", "no-such-thing")
    assert r.exit_code == 1 and r.stderr.startswith("nothing found for 'no-such-thing'\nsearched: a correlation id")
    r = cli("trace", " ")
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (
        2, "Error: QUERY is empty: give a correlation id, a business key, an id or a company name")
    r = cli("trace", CORR[2], "--pick", "2")
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (2, "Error: --pick 2: there are 1 matches")


def test_untrusted_text_is_printed_literally(store):
    with store.eng.begin() as c:
        c.execute(exceptions.update().where(exceptions.c.id == 2).values(
            last_error="[bold]boom[/bold] \x1b[31mred\x1b]0;pwned\x07", title=""))
    for args in (["exceptions", "list"], ["exceptions", "show", 2]):
        r = cli(*args)
        assert r.exit_code == 0, r.output
        assert "[bold]boom[/bold] red" in r.stdout and "\x1b" not in r.stdout and "pwned" not in r.stdout


def test_help_documents_json_and_exit_codes(store):
    for args in (["runs", "list"], ["runs", "show"], ["exceptions", "list"], ["exceptions", "show"],
                 ["exceptions", "retry"], ["exceptions", "ack"], ["exceptions", "assign"], ["exceptions", "resolve"],
                 ["trace"]):
        help_text = cli(*args, "--help").stdout
        assert "--json" in help_text and '"id"' in help_text or '"status"' in help_text, args
    assert "Exit status" in cli("exceptions", "resolve", "--help").stdout
