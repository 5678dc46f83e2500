"""`opsconsole db upgrade --json`: a new store, an older one, and one newer than this code (refused,
nothing touched)."""

from __future__ import annotations

import json
import sqlite3

from click.testing import CliRunner

from opsconsole.cli import main
from opsconsole.store.migrate import head_revision, upgrade


def _up(url: str):
    r = CliRunner().invoke(main, ["db", "upgrade", "--url", url, "--json"])
    return r.exit_code, json.loads(r.stdout)


def test_new_older_and_newer_stores(tmp_path):
    head = head_revision()
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert _up(url) == (0, {"status": "done", "from": None, "to": head})
    assert _up(url) == (0, {"status": "done", "from": head, "to": head})
    older = f"sqlite:///{tmp_path / 'older.db'}"
    upgrade(older, revision="0009")
    assert _up(older) == (0, {"status": "done", "from": "0009", "to": head})
    with sqlite3.connect(tmp_path / "older.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0999'")
    code, doc = _up(older)
    assert (code, doc["status"], doc["from"]) == (1, "refused", "0999")
    assert doc["error"] == (f"the store is at revision 0999, newer than this opsconsole (which expects {head}): "
                            "upgrade opsconsole")


def test_a_credential_that_does_not_resolve_is_one_clear_line_not_a_traceback(tmp_path, monkeypatch):
    """The worker needs its audit key: an unset environment variable names itself and the fix."""
    monkeypatch.delenv("OPSCONSOLE_AUDIT_KEY", raising=False)
    monkeypatch.delenv("OPSCONSOLE_CONFIG", raising=False)
    monkeypatch.setenv("OPSCONSOLE_VAR_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["worker"])
    assert r.exit_code == 1 and r.exception is not None and isinstance(r.exception, SystemExit)
    assert r.output.strip() == ("Error: credential 'env:OPSCONSOLE_AUDIT_KEY': environment variable "
                                "OPSCONSOLE_AUDIT_KEY is not set (see the settings file's credential references)")
