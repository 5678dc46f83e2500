"""`opsconsole conflicts` and `opsconsole approvals` against a real migrated store: JSON shapes,
tables that print untrusted values literally, decisions queued as commands the engine executes,
maker-checker refusals that queue nothing, and the exit codes (0 done, 1 refused/failed, 2 usage,
3 not executed in time)."""

from __future__ import annotations

import json
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from canonical.matching import Identity, MatchingRules, match
from canonical.ownership import OwnershipRules
from opsconsole.cli import main
from opsconsole.engine import governance as gov
from opsconsole.engine.app import audit_log
from opsconsole.engine.commands import execute_queued
from opsconsole.settings import load_settings
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import commands

T0 = datetime(2026, 11, 30, 9, tzinfo=timezone.utc)
RULES = OwnershipRules.load()


class Store:
    def __init__(self, settings):
        self.settings = settings
        self.eng = make_engine(settings.store_url, write=True)
        self.audit = audit_log(settings)

    def apply(self, canonical_id, system, values, event, minutes=0):
        with self.eng.begin() as c:
            _, opened = gov.apply_to_golden(c, RULES, "customer", canonical_id, system, values, event_id=event,
                                            at=T0 + timedelta(minutes=minutes))
        self.audit.flush_head()
        return opened

    def tax_conflict(self, canonical_id="cus_1", crm_value="GB222"):
        self.apply(canonical_id, "xero", {"tax_number": "GB111"}, f"xero:{canonical_id}")
        (cid,) = self.apply(canonical_id, "hubspot", {"tax_number": crm_value}, f"hubspot:{canonical_id}", 5)
        return cid

    def duplicate(self):
        m = match(Identity.of("hubspot", "7", name="Acme Corp", canonical_id=""),
                  Identity.of("xero", "x-1", name="Acme Corporation", canonical_id="cus_9"), MatchingRules.load())
        with self.eng.begin() as c:
            return gov.record_duplicate(c, m, legal_name="Acme Corp", event_id="hubspot:9")

    def correction(self, requested_by="fiona", after="GB222", canonical_id="cus_2"):
        conflict_id = self.tax_conflict(canonical_id, crm_value=after)
        with self.eng.begin() as c:
            done = gov.resolve_conflict(c, self.audit, conflict_id, requested_by, "correction",
                                        "customer sent a new VAT certificate")
        self.audit.flush_head()
        return done["correction"]

    def execute(self):
        with self.eng.begin() as c:
            execute_queued(c, self.audit, has_role=self.settings.has_role)
        self.audit.flush_head()

    def queued(self):
        with self.eng.connect() as c:
            return c.scalar(select(func.count()).select_from(commands).where(commands.c.status == "queued"))

    def commands(self):
        with self.eng.connect() as c:
            return c.scalar(select(func.count()).select_from(commands))

    @contextmanager
    def engine_running(self):
        """An engine stand-in: executes queued commands every 50 ms, as the real one does."""
        stop = threading.Event()

        def loop():
            while not stop.wait(0.05):
                self.execute()
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join(5)


@pytest.fixture
def store(tmp_path, monkeypatch):
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "sqlite:///{tmp_path}/s.db"\nvar_dir = "{tmp_path}"\n'
                      'audit_key = "env:TEST_AUDIT_KEY"\n\n[roles]\nfiona = ["finance"]\n'
                      'frank = ["finance", "support"]\nsam = ["support"]\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    monkeypatch.setenv("TEST_AUDIT_KEY", "k" * 32)
    monkeypatch.setenv("USER", "mallory")  # ignored: anyone can set it
    monkeypatch.setattr("opsconsole.settings.os_account", lambda: "sam")  # the OS account: the operator without --as
    monkeypatch.setenv("COLUMNS", "220")
    for name in ("OPSCONSOLE_OPERATOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(config)
    upgrade(settings.store_url)
    s = Store(settings)
    yield s
    s.eng.dispose()


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def lines(text: str) -> list[str]:
    """Output lines, trailing padding removed and ages (which depend on the test's speed) as "Ns"."""
    return [re.sub(r"(?<= )\d+s(?= |$)", "Ns", line.rstrip()) for line in text.splitlines()]


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line)


def stable(doc: dict) -> dict:
    """A conflict or correction's JSON without its timestamps, after checking their shapes."""
    doc = dict(doc)
    assert datetime.fromisoformat(doc.pop("created_at")).tzinfo is not None
    assert isinstance(doc.pop("age_s"), float)
    return doc


OWNERSHIP = {
    "id": 1, "kind": "ownership", "entity": "customer", "canonical_id": "cus_1", "field": "tax_number",
    "owner": "xero", "rule": "owned by xero, source priority, billing-impacting",
    "values": {"xero": "GB111", "hubspot": "GB222"}, "challenger": "hubspot",
    "proposed": "keep the xero value, or raise a correction for finance to write the hubspot value",
    "billing_impacting": True, "score": None, "state": "open", "resolution": "", "resolved_by": "",
    "correction_id": None, "run_id": None, "resolutions": ["keep", "correction"],
}
DUPLICATE = {
    "id": 2, "kind": "duplicate", "entity": "customer", "canonical_id": "cus_9", "field": "", "owner": "",
    "rule": "same legal name",
    "values": {"record": {"system": "hubspot", "object_type": "company", "external_id": "7", "legal_name": "Acme Corp",
                          "tax_number": "", "domain": ""},
               "candidate": {"system": "xero", "external_id": "x-1", "canonical_id": "cus_9", "name": "acme",
                             "tax_number": "", "domain": ""}},
    "challenger": "hubspot", "proposed": "link the record to the known customer, or keep it as a separate customer",
    "billing_impacting": False, "score": 0.5, "state": "open", "resolution": "", "resolved_by": "",
    "correction_id": None, "run_id": None, "resolutions": ["link", "separate"],
}


# --- conflicts -----------------------------------------------------------------------------------
def test_conflicts_list_json_is_one_document_newest_first_and_filters(store):
    store.tax_conflict()
    store.duplicate()
    r = cli("conflicts", "list", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {k: doc[k] for k in ("total", "offset", "limit")} == {"total": 2, "offset": 0, "limit": 50}
    assert [stable(c) for c in doc["conflicts"]] == [DUPLICATE, OWNERSHIP]
    only = json.loads(cli("conflicts", "list", "--kind", "ownership", "--json").stdout)
    assert only["total"] == 1 and [c["id"] for c in only["conflicts"]] == [1]
    page = json.loads(cli("conflicts", "list", "--limit", "1", "--offset", "1", "--json").stdout)
    assert (page["total"], page["offset"], page["limit"], [c["id"] for c in page["conflicts"]]) == (2, 1, 1, [1])
    assert json.loads(cli("conflicts", "list", "--state", "resolved", "--json").stdout)["conflicts"] == []


def test_conflicts_list_table_shows_values_per_system_side_by_side(store):
    store.tax_conflict()
    store.duplicate()
    r = cli("conflicts", "list")
    assert r.exit_code == 0, r.output
    out = lines(r.stdout)
    assert out[0].split() == ["ID", "KIND", "ENTITY", "FIELD", "HUBSPOT", "XERO", "OWNER", "/", "RULE", "PROPOSED",
                              "AGE"]
    dup = [c.strip() for c in cells(out[2]) if c.strip()]
    assert dup[:7] == ["2", "duplicate", "customer cus_9", "-", "record: Acme Corp [7]", "known: acme [cus_9]",
                       "score 0.50: same legal name"]
    assert dup[7].startswith("link the record to the known customer") and dup[8] == "Ns"
    own = [c.strip() for c in cells(next(line for line in out if line.startswith(" 1 "))) if c.strip()]
    assert own[:7] == ["1", "ownership", "customer cus_1", "tax_number", "GB222", "GB111",
                       "owned by xero, source priority, billing-impacting"]
    assert own[7].startswith("keep the xero value") and own[8] == "Ns"
    assert out[-1] == ("1-2 of 2 conflicts; decide one with `opsconsole conflicts resolve ID "
                       "--keep|--take|--correction|--link|--separate`")
    assert lines(cli("conflicts", "list", "--state", "resolved").stdout) == ["no resolved conflicts"]
    assert lines(cli("conflicts", "list", "--kind", "duplicate", "--offset", "5").stdout) == [
        "no open conflicts of kind duplicate past row 5"]


def test_an_80_column_terminal_stacks_columns_instead_of_dropping_them(store, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    store.tax_conflict()
    store.duplicate()
    store.correction()
    for args, headers, texts in [
        (["conflicts", "list", "--state", "all"], ["KIND / ENTITY", "/ FIELD", "HUBSPOT", "XERO", "PROPOSED", "STATE"],
         ["record: Acme", "GB111", "GB222", "score 0.50:", "hubspot value"]),
        (["approvals", "list", "--as", "frank"], ["ENTITY / FIELD", "BEFORE → AFTER /", "REQUESTED BY /", "YOU"],
         ["GB111 →", "writes", "fiona", "may decide"]),
    ]:
        r = cli(*args)
        assert r.exit_code == 0, r.output
        assert all(len(line) <= 80 for line in r.stdout.splitlines())
        head = "\n".join(r.stdout.splitlines()[:4])
        assert all(h in head for h in headers), head
        assert all(t in r.stdout for t in texts), r.stdout


def test_untrusted_values_are_printed_literally_never_as_markup_or_escape_sequences(store):
    store.apply("cus_1", "xero", {"legal_name": "Evil Ltd"}, "xero:1")
    store.apply("cus_1", "hubspot", {"legal_name": "[bold]Evil[/bold] \x1b[31mCorp\x1b]0;pwned\x07"}, "hubspot:1", 5)
    for args in (["conflicts", "list"], ["conflicts", "show", "1"]):
        r = cli(*args)
        assert r.exit_code == 0, r.output
        assert "[bold]Evil[/bold] Corp" in r.stdout
        assert "\x1b" not in r.stdout and "pwned" not in r.stdout
    # JSON keeps the value as received (escaped by JSON itself)
    doc = json.loads(cli("conflicts", "show", "1", "--json").stdout)
    assert doc["values"]["hubspot"] == "[bold]Evil[/bold] \x1b[31mCorp\x1b]0;pwned\x07"


def test_conflicts_show_text_json_and_a_missing_one(store):
    store.tax_conflict()
    r = cli("conflicts", "show", 1)
    assert r.exit_code == 0, r.output
    assert lines(r.stdout) == [
        "conflict 1: ownership of tax_number on customer cus_1",
        "xero (owner)  GB111",
        "hubspot       GB222",
        "rule          owned by xero, source priority, billing-impacting",
        "proposed      keep the xero value, or raise a correction for finance to write the hubspot value",
        "state         open",
        lines(r.stdout)[6],
        "resolve with: opsconsole conflicts resolve 1 --keep | --correction",
    ]
    assert re.fullmatch(r"age +Ns \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", lines(r.stdout)[6])
    assert stable(json.loads(cli("conflicts", "show", 1, "--json").stdout)) == OWNERSHIP
    missing = cli("conflicts", "show", 99)
    assert (missing.exit_code, missing.stderr) == (1, "Error: no conflict 99\n")


def test_resolve_no_wait_queues_a_command_the_engine_executes(store):
    store.tax_conflict()
    r = cli("conflicts", "resolve", 1, "--keep", "--note", "the ERP is right", "--no-wait")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "conflict 1: keep queued (command 1)\n", "")
    assert json.loads(cli("conflicts", "show", 1, "--json").stdout)["state"] == "open"
    store.execute()
    doc = json.loads(cli("conflicts", "show", 1, "--json").stdout)
    # the operator is the OS account (sam, not $USER) when no --as is given
    assert (doc["state"], doc["resolution"], doc["resolved_by"], doc["resolutions"]) == ("resolved", "keep", "sam", [])
    again = cli("conflicts", "resolve", 1, "--keep", "--json")
    assert again.exit_code == 1 and store.commands() == 1
    assert json.loads(again.stdout) == {"command": None, "kind": "resolve_conflict", "target": "conflict:1",
                                        "status": "refused", "result": "conflict 1 is already resolved (keep)"}
    assert again.stderr == "refused: conflict 1 is already resolved (keep)\n"


def test_resolve_waits_for_the_engine_and_prints_its_result(store):
    store.tax_conflict()
    with store.engine_running():
        r = cli("conflicts", "resolve", 1, "--correction", "--note", "new VAT certificate", "--as", "frank")
    assert (r.exit_code, r.stdout) == (0, "conflict 1 resolved: correction; correction 1 waits for finance approval\n")
    corrections = json.loads(cli("approvals", "list", "--json", "--as", "frank").stdout)["corrections"]
    assert [(c["id"], c["requested_by"], c["reason"], c["before"], c["after"]) for c in corrections] == [
        (1, "frank", "new VAT certificate", "GB111", "GB222")]


def test_resolve_json_when_done(store):
    store.duplicate()
    with store.engine_running():
        r = cli("conflicts", "resolve", 1, "--separate", "--json", "--as", "frank")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"command": 1, "kind": "resolve_conflict", "target": "conflict:1",
                                    "status": "done", "result": "conflict 1 resolved: separate"}


def test_resolve_times_out_with_exit_3_when_no_engine_runs_and_the_command_stays_queued(store):
    store.tax_conflict()
    r = cli("conflicts", "resolve", 1, "--keep", "--timeout", "0.3")
    why = ("no engine is running on this store: command 1 stays queued and runs when one starts "
           "(`opsconsole worker`, or a console that takes the engine lease)")
    assert (r.exit_code, r.stdout, r.stderr) == (3, "", why + "\n")
    assert store.queued() == 1
    r = cli("conflicts", "resolve", 1, "--keep", "--timeout", "0", "--json")
    assert r.exit_code == 3
    assert json.loads(r.stdout) == {"command": 2, "kind": "resolve_conflict", "target": "conflict:1",
                                    "status": "queued", "result": why.replace("command 1", "command 2")}


@pytest.mark.parametrize("args,message", [
    ([], "give exactly one of --keep, --take, --correction, --link, --separate"),
    (["--keep", "--take"], "give exactly one of --keep, --take, --correction, --link, --separate (got --keep, --take)"),
    (["--keep", "--as", "frank", "--as", "fiona"], "Invalid value for '--as': given more than once"),
    (["--keep", "--as", " "], "Invalid value for '--as': an operator name cannot be empty"),
])
def test_resolve_usage_errors_exit_2_and_queue_nothing(store, args, message):
    store.tax_conflict()
    r = cli("conflicts", "resolve", 1, *args)
    assert r.exit_code == 2 and r.stderr.splitlines()[-1] == f"Error: {message}"
    assert store.commands() == 0


@pytest.mark.parametrize("conflict,flag,message", [
    (1, "--take", "tax_number is billing-impacting: raise a correction for finance to approve instead"),
    (1, "--link", "ownership conflicts are resolved with one of: keep, take, correction"),
    (2, "--keep", "duplicate conflicts are resolved with one of: link, separate"),
    (99, "--keep", "no conflict 99"),
])
def test_a_refused_resolution_exits_1_with_the_reason_and_queues_nothing(store, conflict, flag, message):
    store.tax_conflict()
    store.duplicate()
    r = cli("conflicts", "resolve", conflict, flag)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"refused: {message}\n")
    assert store.commands() == 0


# --- approvals -----------------------------------------------------------------------------------
def _correction_json(**changes):
    base = {"id": 1, "conflict_id": 1, "entity": "customer", "canonical_id": "cus_2", "field": "tax_number",
            "before": "GB111", "after": "GB222", "target_system": "xero", "requested_by": "fiona",
            "reason": "customer sent a new VAT certificate", "state": "pending", "decided_by": "",
            "decision_reason": "", "run_id": None}
    return {**base, **changes}


@pytest.mark.parametrize("operator,why", [
    ("frank", ""),
    ("fiona", "fiona requested correction 1; another finance approver must decide it"),
    ("sam", "sam does not hold the finance role"),
])
def test_approvals_list_json_says_who_may_decide_and_why_not(store, operator, why):
    store.correction()
    r = cli("approvals", "list", "--json", "--as", operator)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert {k: doc[k] for k in ("operator", "total", "offset", "limit")} == {
        "operator": operator, "total": 1, "offset": 0, "limit": 50}
    assert [stable(c) for c in doc["corrections"]] == [_correction_json(may_decide=not why, why_not=why)]


def test_approvals_list_table(store):
    store.correction(after="[red]GB999[/red]")
    r = cli("approvals", "list", "--as", "frank")
    assert r.exit_code == 0, r.output
    out = lines(r.stdout)
    assert out[0] == "operator frank (roles: finance, support)"
    assert out[1].split() == ["ID", "ENTITY", "FIELD", "BEFORE", "→", "AFTER", "BILLING", "IMPACT", "REQUESTED", "BY",
                              "REASON", "AGE", "YOU"]
    assert [c.strip() for c in cells(out[3]) if c.strip()] == [
        "1", "customer cus_2", "tax_number", "GB111 → [red]GB999[/red]", "writes tax_number in xero", "fiona",
        "customer sent a new VAT certificate", "Ns", "may decide"]
    assert out[-1] == ("1-1 of 1 corrections; decide one with `opsconsole approvals approve ID` or "
                       "`opsconsole approvals reject ID --reason TEXT`")
    assert lines(cli("approvals", "list").stdout)[3].endswith("no: sam does not hold the finance role")
    fiona = " ".join(cli("approvals", "list", "--as", "fiona").stdout.split())  # a long cell wraps
    assert "Ns no: fiona requested correction 1; another finance approver must decide it 1-1 of 1" in re.sub(
        r" \d+s ", " Ns ", fiona)


def test_the_requester_cannot_approve_their_own_correction(store):
    store.correction(requested_by="fiona")
    r = cli("approvals", "approve", 1, "--as", "fiona")
    assert (r.exit_code, r.stdout, r.stderr) == (
        1, "", "refused: fiona requested correction 1; another finance approver must decide it\n")
    r = cli("approvals", "approve", 1, "--as", "fiona", "--json")
    assert r.exit_code == 1 and json.loads(r.stdout) == {
        "command": None, "kind": "approve", "target": "correction:1", "status": "refused",
        "result": "fiona requested correction 1; another finance approver must decide it"}
    assert store.commands() == 0


def test_an_operator_without_the_finance_role_cannot_approve_or_reject(store):
    store.correction()
    r = cli("approvals", "approve", 1)  # the OS account: sam, support only
    assert (r.exit_code, r.stderr) == (1, "refused: sam does not hold the finance role\n")
    r = cli("approvals", "reject", 1, "--reason", "no", "--as", "sam")
    assert (r.exit_code, r.stderr) == (1, "refused: sam does not hold the finance role\n")
    assert store.commands() == 0


@pytest.mark.parametrize("args,message", [
    ([], "Missing option '--reason'."),
    (["--reason", "  "], "Invalid value for '--reason': a rejection needs a reason"),
])
def test_reject_without_a_reason_is_a_usage_error(store, args, message):
    store.correction()
    r = cli("approvals", "reject", 1, "--as", "frank", *args)
    assert r.exit_code == 2 and r.stderr.splitlines()[-1] == f"Error: {message}"
    assert store.commands() == 0


def test_another_finance_operator_approves_and_the_engine_writes_it(store):
    store.correction(requested_by="fiona")
    with store.engine_running():
        r = cli("approvals", "approve", 1, "--as", "frank")
    assert r.exit_code == 0, r.output
    assert re.fullmatch(r"correction 1 approved; run \d+ writes it to the ERP\n", r.stdout)
    doc = json.loads(cli("approvals", "list", "--state", "all", "--json", "--as", "frank").stdout)
    (row,) = doc["corrections"]
    assert (row["state"], row["decided_by"], row["may_decide"], row["why_not"]) == (
        "approved", "frank", False, "correction 1 is approved, not pending")
    assert json.loads(cli("approvals", "list", "--json", "--as", "frank").stdout)["corrections"] == []
    table = lines(cli("approvals", "list", "--state", "all", "--as", "frank").stdout)
    assert "STATE" in table[1].split() and "approved by frank" in table[3]


def test_reject_no_wait_then_executed(store):
    store.correction()
    r = cli("approvals", "reject", 1, "--reason", "the certificate is for another entity", "--as", "frank",
            "--no-wait", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"command": 1, "kind": "reject", "target": "correction:1", "status": "queued",
                                    "result": "reject of correction 1 queued (command 1)"}
    store.execute()
    (row,) = json.loads(cli("approvals", "list", "--state", "all", "--json").stdout)["corrections"]
    assert (row["state"], row["decided_by"], row["decision_reason"]) == (
        "rejected", "frank", "the certificate is for another entity")


def test_a_decision_the_engine_refuses_exits_1_with_its_reason(store):
    store.correction()
    assert cli("approvals", "approve", 1, "--as", "frank", "--no-wait").exit_code == 0
    # queued twice before the engine ran: the engine executes the first and refuses the second
    with store.engine_running():
        r = cli("approvals", "approve", 1, "--as", "frank")
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", "command 2 failed: correction 1 is approved, not pending\n")


def test_json_is_documented_in_the_help(store):
    for args in (["conflicts", "list"], ["conflicts", "show"], ["conflicts", "resolve"], ["approvals", "list"],
                 ["approvals", "approve"], ["approvals", "reject"]):
        help_text = cli(*args, "--help").stdout
        assert "--json" in help_text and ('"status"' in help_text or '"id"' in help_text), args
