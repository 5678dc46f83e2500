"""Pilot tests of the exceptions pane's verbs (acknowledge, assign, resolve, each a command the
engine executes and audits), the support role and read-only refusals (bulk selection with a count
preview: test_exceptions_bulk.py), facets in the `/` filter, the sort, and the detail view."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, update

from opsconsole.masking import MASK
from opsconsole.services import ActionRefused
from opsconsole.store import tables as t
from opsconsole.tui.screens.exception import ExceptionScreen
from opsconsole.tui.screens.main import MainScreen
from opsconsole.tui.screens.note import NoteScreen
from opsconsole.tui.screens.trace import TraceScreen
from opsconsole.tui.widgets.filter_bar import FilterBar

from .conftest import FIXED_NOW, OPEN_EXCEPTION_IDS, make_services, screen_text, store_rows
from .test_actions import notifications
from .test_governance import commands, run_engine
from .test_panes import make_app, row_keys, settle


@pytest.fixture
def carol_services(tmp_path: Path):
    """carol holds finance but not support."""
    services = make_services(tmp_path, operator="carol")
    yield services
    services.close()


def exception_row(services, exception_id: int) -> dict:
    return next(r for r in store_rows(services, t.exceptions) if r["id"] == exception_id)


def audit_of(services) -> list[tuple]:
    return [(a["actor"], a["action"], a["subject"]) for a in store_rows(services, t.audit)]


async def show_exceptions(app, pilot, key: str | None = None) -> None:
    await pilot.press("2")
    await settle(app, pilot)
    if key is not None:
        table = app.screen.table("exceptions")
        table.move_cursor(row=row_keys(table).index(key))
        await pilot.pause()


async def type_filter(app, pilot, text: str) -> None:
    """The filter as typed, in one change (typing key by key is tested in test_panes.py): each
    keystroke would refetch, which only slows these tests of what the facets select."""
    await pilot.press("slash")
    bar = app.screen.query_one(FilterBar)
    bar.value = text
    await settle(app, pilot)


# --- single verbs ---------------------------------------------------------------------------------
async def test_acknowledge_queues_a_command_the_engine_executes_and_audits(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "11")
        await pilot.press("a")
        await settle(app, pilot)
        assert commands(seeded_services) == [("acknowledge", "exception:11", {}, "alice", "queued")]
        assert audit_of(seeded_services) == [("alice", "acknowledge.requested", "exception:11")]
        assert "acknowledge of exception 11 queued" in notifications(app)
        run_engine(seeded_services)
        row = exception_row(seeded_services, 11)
        assert (row["state"], row["owner"]) == ("acknowledged", "alice")
        assert audit_of(seeded_services)[1:] == [("alice", "exception.acknowledge", "exception:11"),
                                                 ("engine", "command.done", "command:1")]
        detail = store_rows(seeded_services, t.audit)[1]["detail"]
        assert detail == {"command": 1, "from": "open", "owner": "alice"}
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert "acknowledge exception:11 done: exception 11 acknowledged" in notifications(app)
        assert "acknowledged" in screen_text(app)


async def test_acknowledging_an_acknowledged_exception_is_refused(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "14")
        await pilot.press("a")
        await settle(app, pilot)
        assert "exception 14 is already acknowledged (owner bob): nothing to acknowledge" in notifications(app)
        assert commands(seeded_services) == []


async def test_assign_to_a_known_operator_to_me_and_a_stranger_is_refused(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "12")
        await pilot.press("A")
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        assert "Known: alice, bob, carol" in screen_text(app)
        await pilot.press(*"dave", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        assert ("dave is not a known operator (known: alice, bob, carol): add them to roles in the settings file"
                in notifications(app))
        assert commands(seeded_services) == []

        await pilot.press("A")
        await settle(app, pilot)
        await pilot.press(*"bob", "enter")
        await settle(app, pilot)
        await show_exceptions(app, pilot, "11")
        await pilot.press("A", "enter")  # Enter alone: yourself
        await settle(app, pilot)
        assert commands(seeded_services) == [("assign", "exception:12", {"to": "bob"}, "alice", "queued"),
                                             ("assign", "exception:11", {"to": "alice"}, "alice", "queued")]
        run_engine(seeded_services)
        assert [(r["id"], r["state"], r["owner"]) for r in store_rows(seeded_services, t.exceptions)
                if r["id"] in (11, 12)] == [(11, "acknowledged", "alice"), (12, "acknowledged", "bob")]
        assert ("alice", "exception.assign", "exception:12") in audit_of(seeded_services)
        assert [c["result"] for c in store_rows(seeded_services, t.commands)] == [
            "exception 12 assigned to bob", "exception 11 assigned to alice"]


async def test_resolve_requires_a_reason_then_resolves(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "13")
        await pilot.press("R")
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, NoteScreen)  # still asking
        assert "resolving needs a reason" in notifications(app)
        await pilot.press(*"sender fixed the amount", "enter")
        await settle(app, pilot)
        assert commands(seeded_services) == [
            ("resolve", "exception:13", {"reason": "sender fixed the amount"}, "alice", "queued")]
        run_engine(seeded_services)
        row = exception_row(seeded_services, 13)
        assert (row["state"], row["resolution"], row["owner"]) == ("resolved", "sender fixed the amount", "alice")
        assert ("alice", "exception.resolve", "exception:13") in audit_of(seeded_services)
        await pilot.pause(0.8)
        await settle(app, pilot)
        assert row_keys(app.screen.table("exceptions")) == ["14", "12", "11"]  # resolved: no longer listed


async def test_an_operator_without_the_support_role_is_told_so(carol_services):
    app = make_app(carol_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "11")
        for key, verb in (("a", "acknowledge"), ("A", "assign"), ("R", "resolve"), ("r", "retry")):
            await pilot.press(key)
            await settle(app, pilot)
            assert isinstance(app.screen, MainScreen), verb
        said = notifications(app)
        for verb in ("acknowledge", "assign", "resolve", "retry"):
            assert f"not yours to {verb}: carol does not hold the support role" in said
        with pytest.raises(ActionRefused, match="not yours to retry: carol does not hold the support role"):
            carol_services.retry(11)  # the services refuse it too
        assert commands(carol_services) == []
        assert store_rows(carol_services, t.audit) == []


def test_the_engine_rechecks_the_support_role(carol_services):
    with carol_services._write.begin() as conn:  # a command row written straight into the store
        conn.execute(insert(t.commands).values(kind="resolve", target="exception:11", params={"reason": "x"},
                                               actor="carol", status="queued", created_at=FIXED_NOW))
    run_engine(carol_services)
    command = store_rows(carol_services, t.commands)[0]
    assert (command["status"], command["result"]) == ("failed", "carol does not hold the support role")
    assert exception_row(carol_services, 11)["state"] == "open"


async def test_read_only_refuses_every_verb_without_writing(seeded_services):
    app = make_app(seeded_services, read_only=True)
    async with app.run_test(size=(100, 50)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "11")
        await pilot.press("space")
        await pilot.press("a", "A", "R")
        await settle(app, pilot)
        assert isinstance(app.screen, MainScreen)
        said = notifications(app)
        for verb in ("acknowledge", "assign", "resolve"):
            assert f"read-only console: {verb} is disabled" in said
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ExceptionScreen)
        assert "read-only console: resolve is disabled" in screen_text(app)
        await pilot.press("R")
        await settle(app, pilot)
        assert isinstance(app.screen, ExceptionScreen)
        assert commands(seeded_services) == [] and store_rows(seeded_services, t.audit) == []


def test_services_refuse_too(seeded_services):
    with pytest.raises(ActionRefused, match="exception 10 is closed: nothing to resolve"):
        seeded_services.resolve(10, "done")
    with pytest.raises(ActionRefused, match="needs a reason"):
        seeded_services.resolve(11, "  ")
    with pytest.raises(ActionRefused, match="dave is not a known operator"):
        seeded_services.assign(11, "dave")
    seeded_services.read_only = True
    with pytest.raises(ActionRefused, match="read-only"):
        seeded_services.acknowledge(11)
    assert commands(seeded_services) == []


# --- filter facets and sort --------------------------------------------------------------------------
@pytest.mark.parametrize("text, ids", [
    ("", OPEN_EXCEPTION_IDS),
    ("category:rate_limit", [12]),
    ("state:all", [14, 13, 12, 11, 10]),
    ("state:closed", [10]),
    ("owner:bob", [14]),
    ("owner:none", [13, 12, 11]),
    ("owner:me", []),
    ("age:>1h", [11]),
    ("age:<90s", [14, 13]),
    ("age:>50s age:<1h", [14, 12]),
    ("system:hubspot", [13]),
    ("workflow:quote_to_order category:rate_limit,validation", [13, 12]),
    ("Account code", [11]),
    ("Account code system:hubspot", []),
    ("state:all Q-1001", [10]),
])
async def test_facets_filter_with_exact_rows(seeded_services, text, ids):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot)
        await type_filter(app, pilot, text)
        table = app.screen.table("exceptions")
        assert row_keys(table) == [str(i) for i in ids]
        assert table.row_total == len(ids)


async def test_a_bad_token_is_explained_in_the_filter_bar(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot)
        await type_filter(app, pilot, "category:rate_limit")
        table = app.screen.table("exceptions")
        assert row_keys(table) == ["12"]
        bar = app.screen.query_one(FilterBar)
        bar.value = "category:rate_limit age:1h"
        await settle(app, pilot)
        assert bar.has_class("-filter-error")
        assert str(bar.border_subtitle) == "age: use >1h, <30m, >2d"
        assert "─age: use >1h, <30m, >2d──" in screen_text(app)  # under the filter text
        bar.value = "category:[b]x"
        await settle(app, pilot)
        assert "category:[b]x is not a category" in screen_text(app)  # typed text is never markup
        assert row_keys(table) == ["12"]  # what the last good filter matched
        bar.value = "category:rate_limit age:>1h"
        await settle(app, pilot)
        assert not bar.has_class("-filter-error")
        assert row_keys(table) == []


async def test_s_cycles_the_sort_and_says_which(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot)
        table = app.screen.table("exceptions")
        assert "sort newest first (s)" in screen_text(app)
        expected = [("oldest first", ["11", "12", "13", "14"]), ("by category", ["14", "12", "11", "13"]),
                    ("by workflow", ["14", "13", "12", "11"]), ("newest first", ["14", "13", "12", "11"])]
        for label, order in expected:
            await pilot.press("s")
            await settle(app, pilot)
            assert row_keys(table) == order, label
            assert f"sort {label} (s)" in screen_text(app)


# --- detail -----------------------------------------------------------------------------------------
PII_PAYLOAD = {"quote_id": "1002", "amount": "490.00",
               "contact": {"id": "501", "email": "jane@acme.example", "firstname": "Jane", "lastname": "Doe",
                           "phone": "+44 20 7946 0000"}}


def set_payload(services, exception_id: int, payload) -> None:
    with services._write.begin() as conn:
        conn.execute(update(t.exceptions).where(t.exceptions.c.id == exception_id).values(payload=payload))


async def test_enter_opens_the_detail_and_t_the_trace(seeded_services):
    set_payload(seeded_services, 11, PII_PAYLOAD)
    app = make_app(seeded_services)
    async with app.run_test(size=(100, 60)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "11")
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ExceptionScreen)
        text = screen_text(app)
        assert "exception 11" in text and "rejected_by_target" in text
        assert "Account code '999' is not a valid code" in text
        assert "The target refused the request as sent" in text
        assert "4 spans" in text and "hubspot 1, xero 3" in text and "PUT /Invoices 422" in text
        assert "4 personal values masked (the pii role shows them)" in text
        assert "jane@acme.example" not in text and "Jane" not in text and MASK in text
        assert '"amount": "490.00"' in text and '"id": "501"' in text
        await pilot.press("t")
        await settle(app, pilot)
        assert isinstance(app.screen, TraceScreen) and app.screen.run_id == 2
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ExceptionScreen)
        await pilot.press("a")  # the verbs work from the detail too
        await settle(app, pilot)
        assert commands(seeded_services) == [("acknowledge", "exception:11", {}, "alice", "queued")]


async def test_the_pii_role_shows_the_payload_unmasked(tmp_path):
    services = make_services(tmp_path)
    services.settings.roles = {**services.settings.roles, "alice": ["support", "pii"]}
    set_payload(services, 11, PII_PAYLOAD)
    try:
        detail = services.exception_detail(11)
        assert detail.masked == 0 and detail.payload == PII_PAYLOAD
        services.settings.roles = {**services.settings.roles, "alice": ["support"]}
        detail = services.exception_detail(11)
        assert detail.masked == 4 and detail.payload["contact"]["email"] == MASK
    finally:
        services.close()


def test_suggested_actions_come_from_one_table(seeded_services):
    from opsconsole.exception_services import suggestion

    assert suggestion("auth", "xero") == "Reconnect the connector (opsconsole connect xero), then retry."
    assert suggestion("validation", "hubspot").startswith("Fix the source record in the CRM")
    assert seeded_services.exception_detail(13).suggested_action == suggestion("validation", "hubspot")


# --- keys: the palette and the help ----------------------------------------------------------------
async def test_palette_runs_the_verbs_and_help_lists_the_keys(seeded_services):
    from opsconsole.tui.commands import OpsCommands
    from opsconsole.tui.screens.help import HelpScreen

    app = make_app(seeded_services, keymap={"exceptions.acknowledge": "ctrl+k"})
    async with app.run_test(size=(140, 90)) as pilot:
        await settle(app, pilot)
        provider = OpsCommands(app.screen)
        hits = [hit async for hit in provider.search("exceptions: acknowledge")]
        await hits[0].command()  # not on the exceptions pane
        await settle(app, pilot)
        assert "select an exception first (2 shows the exceptions)" in notifications(app)
        await show_exceptions(app, pilot, "12")
        await hits[0].command()
        await settle(app, pilot)
        assert commands(seeded_services) == [("acknowledge", "exception:12", {}, "alice", "queued")]
        sort = [hit async for hit in provider.search("exceptions: sort")][0]
        await sort.command()
        await settle(app, pilot)
        assert row_keys(app.screen.table("exceptions"))[0] == "11"
        table = app.screen.table("exceptions")
        table.move_cursor(row=row_keys(table).index("11"))
        await pilot.press("ctrl+k")  # remapped
        await settle(app, pilot)
        assert commands(seeded_services)[-1][:2] == ("acknowledge", "exception:11")
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for binding_id in ("exceptions.acknowledge", "exceptions.assign", "exceptions.resolve", "exceptions.mark",
                           "exceptions.mark_all", "exceptions.sort", "exceptions.open", "exception.trace"):
            assert binding_id in text
        assert "ctrl+k" in text


# --- the SQL behind the facets uses indexes ------------------------------------------------------------
@pytest.mark.parametrize("text, index", [
    ("", "ix_exc_state"), ("age:>1h", "ix_exc_state"), ("category:validation", "ix_exc_category"),
    ("workflow:quote_to_order", "ix_exc_workflow"), ("owner:bob", "ix_exc_owner"), ("owner:none", "ix_exc_owner"),
])
def test_facet_queries_use_an_index(seeded_services, text, index):
    from sqlalchemy import func, select
    from sqlalchemy import text as sql

    cond = seeded_services._conditions(text)
    with seeded_services._read.connect() as c:
        for stmt in (select(func.count()).select_from(t.exceptions).where(*cond),
                     select(t.exceptions.c.category, func.count()).where(*cond).group_by(t.exceptions.c.category)):
            compiled = stmt.compile(seeded_services._read, compile_kwargs={"literal_binds": True})
            plan = " | ".join(str(r[-1]) for r in c.execute(sql(f"EXPLAIN QUERY PLAN {compiled}")))
            assert index in plan, plan


async def test_the_detail_renders_store_text_plain(seeded_services):
    app = make_app(seeded_services)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await show_exceptions(app, pilot, "14")
        await pilot.press("enter")
        await settle(app, pilot)
        text = screen_text(app)
        assert "Q-EVIL[bold red]boom[/bold red]" in text and "[link=http://x]click[/link]" in text
        assert "\x1b" not in text and "\x07" not in text
        header = next(line for line in text.splitlines() if "key Q-EVIL" in line)
        assert "pwned" not in header  # the OSC sequence is stripped; in the JSON payload it is shown escaped
        assert "\\u001b]0;pwned" in text
