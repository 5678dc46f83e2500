"""`opsconsole connectors`, `opsconsole audit list` and `opsconsole export` against a real migrated
store: JSON with exact ids and counts, pause and resume queued as commands the engine executes,
refusals (no support role, wrong state) that queue nothing, usage errors, and CSV exports that page
through the store a chunk at a time with the list verbs' filters."""

from __future__ import annotations

import csv
import io
import json

import pytest

from opsconsole.verbs import connectors as connectors_verbs
from opsconsole.verbs.export import _rows
from opsconsole.viewmodels import Page
from tests.unit.test_cli_governance import cli, lines
from tests.unit.test_cli_runs_exceptions import doc_of, ids, seeded_store

store = pytest.fixture(name="store")(seeded_store)


def csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


# --- connectors -------------------------------------------------------------------------------------
def test_connectors_list_json(store):
    doc = doc_of("connectors", "list", "--json")
    assert doc["total"] == 3
    assert [(c["id"], c["paused"], c["calls_hour"], c["errors_hour"], c["error_rate"], c["waiting_steps"],
             c["budget_left"], c["rejected_24h"]) for c in doc["connectors"]] == [
        ("hubspot", False, 1, 0, 0.0, 0, None, 0), ("xero", False, 2, 1, 50.0, 0, None, 0),
        ("intercom", False, 0, 0, None, 0, None, 0)]
    assert set(doc["connectors"][0]) == set(connectors_verbs.KEYS) | {"error_rate"}


def test_the_connectors_the_cli_names_are_the_engines():
    from opsconsole.engine.connector_state import SYSTEMS

    assert connectors_verbs.SYSTEMS == SYSTEMS


def test_pause_and_resume_through_the_engine(store):
    with store.engine_running():
        doc = doc_of("connectors", "pause", "xero", "--reason", "Xero maintenance", "--json")
    assert doc == {"command": 1, "kind": "pause_connector", "target": "connector:xero", "status": "done",
                   "result": "xero paused: its steps wait until it is resumed"}
    (xero,) = [c for c in doc_of("connectors", "list", "--json")["connectors"] if c["id"] == "xero"]
    assert (xero["paused"], xero["changed_by"], xero["reason"]) == (True, "sam", "Xero maintenance")
    out = lines(cli("connectors", "list").stdout)
    assert out[0].split()[:3] == ["CONNECTOR", "STATE", "WAITING"]
    assert out[3].startswith("xero       paused by sam ") and out[3].split()[5:7] == ["ago:", "Xero"]
    with store.engine_running():
        r = cli("connectors", "resume", "xero")
    assert (r.exit_code, r.stdout) == (0, "xero resumed: its waiting runs continue, oldest first\n")
    assert [c["paused"] for c in doc_of("connectors", "list", "--json")["connectors"]] == [False, False, False]


@pytest.mark.parametrize("args,message", [
    (["pause", "xero", "--as", "fiona"], "fiona does not hold the support role: only support may pause a connector"),
    (["resume", "hubspot"], "hubspot is not paused"),
])
def test_refused_pause_or_resume_exits_1_and_queues_nothing(store, args, message):
    r = cli("connectors", *args)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"refused: {message}\n")
    r = cli("connectors", *args, "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["status"] == "refused"
    assert store.commands() == 0


def test_pause_usage_errors_and_timeout(store):
    r = cli("connectors", "pause", "stripe")
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (
        2, "Error: Invalid value for 'NAME': 'stripe' is not one of 'hubspot', 'xero', 'intercom'.")
    assert cli("connectors", "pause").exit_code == 2
    assert store.commands() == 0
    r = cli("connectors", "pause", "intercom", "--timeout", "0", "--json")
    assert r.exit_code == 3 and json.loads(r.stdout)["status"] == "queued" and store.queued() == 1


# --- audit list -------------------------------------------------------------------------------------
def test_audit_list_is_searchable_and_paged(store):
    assert cli("connectors", "pause", "xero", "--no-wait").exit_code == 0
    assert cli("exceptions", "ack", 1, "--no-wait", "--as", "pat").exit_code == 0
    store.execute()
    doc = doc_of("audit", "list", "--json")
    assert (doc["query"], doc["total"], doc["offset"], doc["limit"]) == ("", 5, 0, 50)
    assert [(e["id"], e["actor"], e["action"], e["subject"]) for e in doc["entries"]] == [
        (5, "engine", "command.done", "command:2"),
        (4, "pat", "exception.acknowledge", "exception:1"),
        (3, "engine", "command.done", "command:1"),
        (2, "pat", "acknowledge.requested", "exception:1"),
        (1, "sam", "pause_connector.requested", "connector:xero")]
    assert doc["entries"][4]["detail"] == {"command": 1}
    assert ids(doc_of("audit", "list", "actor:pat", "--json")["entries"]) == [4, 2]
    assert ids(doc_of("audit", "list", "action:command.", "--json")["entries"]) == [5, 3]
    assert ids(doc_of("audit", "list", "subject:exception:1", "--json")["entries"]) == [4, 2]
    assert ids(doc_of("audit", "list", "xero", "--json")["entries"]) == [3, 1]
    page = doc_of("audit", "list", "--limit", "2", "--offset", "1", "--json")
    assert (page["total"], ids(page["entries"])) == (5, [4, 3])
    out = lines(cli("audit", "list", "actor:sam").stdout)
    assert out[0].split() == ["ID", "AT", "ACTOR", "ACTION", "SUBJECT", "DETAIL"]
    assert out[2].split()[0] == "1" and out[2].split()[3:] == ["sam", "pause_connector.requested", "connector:xero",
                                                              '{"command":', "1}"]
    assert out[-1] == "1-1 of 1 entries"
    assert lines(cli("audit", "list", "actor:nobody").stdout) == ["no audit entries matching 'actor:nobody'"]
    r = cli("audit", "list", "--limit", "0")
    assert r.exit_code == 2


# --- export -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("chunk", ["500", "1", "3"])
def test_export_runs_pages_through_the_store(store, chunk):
    r = cli("export", "runs", "--chunk-size", chunk)
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines()[0] == ("id,workflow,business_key,status,current_step,attempt,retries,mapping_version,"
                                        "correlation_id,created_at,updated_at,age_s,last_error")
    rows = csv_rows(r.stdout)
    assert [row["id"] for row in rows] == ["4", "3", "2", "1"]
    assert rows[2]["last_error"] == "Xero 422: invalid tax rate OUTPUT9" and rows[2]["retries"] == "2"


@pytest.mark.parametrize("args,expected", [
    (["runs", "--status", "failed"], ["3", "2"]),
    (["runs", "--workflow", "quote_to_order", "--chunk-size", "1"], ["2", "1"]),
    (["runs", "invalid", "tax"], ["2"]),
    (["exceptions"], ["3", "2", "1"]),
    (["exceptions", "state:all", "--sort", "oldest", "--chunk-size", "2"], ["1", "2", "3", "4"]),
    (["exceptions", "--filter", "system:xero"], ["2", "1"]),
    (["connectors"], ["hubspot", "xero", "intercom"]),
])
def test_export_uses_the_list_filters(store, args, expected):
    r = cli("export", *args)
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in csv_rows(r.stdout)] == expected


def test_export_conflicts_and_approvals(store):
    store.tax_conflict()
    store.correction()  # conflict 2 and its correction 1, requested by fiona
    rows = csv_rows(cli("export", "conflicts", "--state", "all").stdout)
    assert [(r["id"], r["state"], r["field"]) for r in rows] == [("2", "resolved", "tax_number"),
                                                                 ("1", "open", "tax_number")]
    assert json.loads(rows[1]["values"]) == {"xero": "GB111", "hubspot": "GB222"}
    assert json.loads(rows[1]["resolutions"]) == ["keep", "correction"] and rows[1]["score"] == ""
    assert [r["id"] for r in csv_rows(cli("export", "conflicts", "--kind", "duplicate").stdout)] == []
    (row,) = csv_rows(cli("export", "approvals", "--as", "fiona").stdout)
    assert (row["id"], row["requested_by"], row["may_decide"], row["why_not"]) == (
        "1", "fiona", "false", "fiona requested correction 1; another finance approver must decide it")
    (row,) = csv_rows(cli("export", "approvals", "--as", "frank").stdout)
    assert (row["may_decide"], row["why_not"]) == ("true", "")


def test_export_audit_to_a_file(store, tmp_path):
    assert cli("connectors", "pause", "xero", "--no-wait").exit_code == 0
    store.execute()
    out = tmp_path / "audit.csv"
    r = cli("export", "audit", "--output", out, "--chunk-size", "1")
    assert (r.exit_code, r.stdout, r.stderr) == (0, "", f"wrote 2 rows to {out}\n")
    rows = csv_rows(out.read_text())
    assert [(row["id"], row["actor"], row["action"]) for row in rows] == [
        ("2", "engine", "command.done"), ("1", "sam", "pause_connector.requested")]
    assert json.loads(rows[1]["detail"]) == {"command": 1}
    assert not (tmp_path / "audit.csv.part").exists()
    assert [row["id"] for row in csv_rows(cli("export", "audit", "actor:sam").stdout)] == ["1"]


def test_an_output_file_that_cannot_be_written_is_exit_1_with_the_reason(store, tmp_path):
    out = tmp_path / "no such directory" / "runs.csv"
    r = cli("export", "runs", "--output", out)
    assert (r.exit_code, r.stdout, r.stderr) == (1, "", f"Error: cannot write {out}: No such file or directory\n")
    assert not out.parent.exists()


@pytest.mark.parametrize("args,message", [
    (["exceptions", "owner:"], "filter: owner: needs a value, e.g. owner:me"),
    (["runs", "--workflow", "nope"], "Invalid value for '--workflow': no workflow 'nope'"),
    (["runs", "--chunk-size", "0"], "Invalid value for '--chunk-size': 0 is not in the range 1<=x<=5000."),
    (["everything"], "No such command 'everything'."),
])
def test_export_usage_errors_exit_2_and_write_nothing(store, args, message):
    r = cli("export", *args)
    assert (r.exit_code, r.stdout) == (2, "")
    assert r.stderr.splitlines()[-1].startswith(f"Error: {message}"), r.stderr


class _Row:
    def __init__(self, id):
        self.id = id


def test_rows_are_not_repeated_when_new_rows_shift_the_pages():
    data = [_Row(i) for i in range(10, 0, -1)]
    calls = []

    def fetch(offset, limit):
        calls.append((offset, limit))
        if offset == 3:  # two rows arrived at the top since the first page
            data[:0] = [_Row(12), _Row(11)]
        return Page(data[offset:offset + limit], len(data), offset, limit)

    assert [r.id for r in _rows(fetch, 3)] == list(range(10, 0, -1))
    assert calls == [(0, 3), (3, 3), (6, 3), (9, 3), (12, 3)]
