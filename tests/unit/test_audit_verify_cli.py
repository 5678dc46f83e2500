"""`opsconsole audit verify` exits 1 on each kind of tampering (edit, removal, reorder, cut-off) and
0 on an intact chain, reading the store and the key the settings name."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from opsconsole.cli import main
from opsconsole.engine.app import audit_log
from opsconsole.settings import load_settings
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import audit


@pytest.fixture
def chained(tmp_path, monkeypatch):
    config = tmp_path / "opsconsole.toml"
    config.write_text(f'store_url = "sqlite:///{tmp_path}/s.db"\nvar_dir = "{tmp_path}"\naudit_key = "env:TEST_AUDIT_KEY"\n')
    monkeypatch.setenv("OPSCONSOLE_CONFIG", str(config))
    monkeypatch.setenv("TEST_AUDIT_KEY", "k" * 32)
    settings = load_settings(config)
    upgrade(settings.store_url)
    eng = make_engine(settings.store_url, write=True)
    log = audit_log(settings)
    for i in range(1, 6):
        with eng.begin() as c:
            log.append(c, "fiona", "correction.approve", f"correction:{i}", {"n": i})
        log.flush_head()
    yield eng
    eng.dispose()


def _verify():
    result = CliRunner().invoke(main, ["audit", "verify", "--json"])
    return result.exit_code, json.loads(result.output)


def test_intact_chain(chained):
    assert _verify() == (0, {"ok": True, "entries": 5, "message": "5 entries verified"})


def _swap_actors(c):
    rows = {r.id: r for r in c.execute(select(audit).where(audit.c.id.in_([2, 3])))}
    for a, b in ((2, 3), (3, 2)):
        r = rows[b]
        c.execute(update(audit).where(audit.c.id == a).values(at=r.at, actor=r.actor, action=r.action, subject=r.subject,
                                                              detail=r.detail, prev_mac=r.prev_mac, mac=r.mac))


@pytest.mark.parametrize("tamper,message", [
    (lambda c: c.execute(update(audit).where(audit.c.id == 3).values(actor="mallory")), "entry 3 does not match the chain"),
    (lambda c: c.execute(delete(audit).where(audit.c.id == 2)), "entry 3 does not match the chain"),
    (_swap_actors, "entry 2 does not match the chain"),
    (lambda c: c.execute(delete(audit).where(audit.c.id >= 4)), "the chain ends at entry 3, the head file says 5"),
])
def test_each_kind_of_tampering_fails_verification(chained, tamper, message):
    with chained.begin() as c:
        tamper(c)
    code, report = _verify()
    assert code == 1 and report["ok"] is False and report["message"] == message
    text = CliRunner().invoke(main, ["audit", "verify"]).output
    assert text.strip() == f"TAMPERED: {message}"


def test_without_the_key_it_says_it_cannot_verify(chained, monkeypatch):
    monkeypatch.delenv("TEST_AUDIT_KEY")
    result = CliRunner().invoke(main, ["audit", "verify", "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output) == {
        "ok": False, "entries": 0,
        "message": "cannot verify: credential 'env:TEST_AUDIT_KEY': environment variable TEST_AUDIT_KEY is not set"}


def test_the_console_and_the_cli_share_one_check(chained):
    import os
    from pathlib import Path

    from opsconsole.engine.audit import verify_audit

    settings = load_settings(Path(os.environ["OPSCONSOLE_CONFIG"]))
    result = verify_audit(settings)
    assert (result.ok, result.entries, result.head, result.broken_at) == (True, 5, "head matches", None)
    with chained.begin() as c:
        c.execute(update(audit).where(audit.c.id == 3).values(actor="mallory"))
    result = verify_audit(settings)
    assert (result.ok, result.entries, result.broken_at) == (False, 2, 3)
