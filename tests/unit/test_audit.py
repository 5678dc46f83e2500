"""The audit chain detects edited, removed, reordered and cut-off entries."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update

from opsconsole.engine.audit import AuditLog
from opsconsole.store.db import make_engine
from opsconsole.store.migrate import upgrade
from opsconsole.store.tables import audit


@pytest.fixture
def chain(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(url)
    eng = make_engine(url, write=True)
    log = AuditLog(b"k" * 32, tmp_path / "audit.head")
    for i in range(5):
        with eng.begin() as c:
            log.append(c, "alice", "retry.requested", f"exception:{i}", {"n": i})
        log.flush_head()
    return eng, log


def _verify(eng, log):
    with eng.connect() as c:
        return log.verify(c)


def test_intact_chain_verifies(chain):
    eng, log = chain
    v = _verify(eng, log)
    assert v.ok and v.entries == 5


def test_edited_entry_is_detected(chain):
    eng, log = chain
    with eng.begin() as c:
        c.execute(update(audit).where(audit.c.id == 3).values(actor="mallory"))
    v = _verify(eng, log)
    assert not v.ok and "entry 3" in v.message


def test_removed_entry_is_detected(chain):
    eng, log = chain
    with eng.begin() as c:
        c.execute(delete(audit).where(audit.c.id == 2))
    assert not _verify(eng, log).ok


def test_cut_off_tail_is_detected_by_the_head_outside_the_store(chain):
    eng, log = chain
    with eng.begin() as c:
        c.execute(delete(audit).where(audit.c.id == 5))
    v = _verify(eng, log)
    assert not v.ok and "head file" in v.message


def test_wrong_key_fails(chain):
    eng, _ = chain
    assert not _verify(eng, AuditLog(b"x" * 32)).ok


def test_a_head_one_behind_after_a_crash_still_verifies(chain, tmp_path):
    eng, log = chain
    with eng.begin() as c:
        log.append(c, "bob", "replay.requested", "run:1")
    # crash before flush_head: the head file still names entry 5
    assert _verify(eng, log).ok


def test_a_rolled_back_entry_never_reaches_the_head(chain):
    eng, log = chain
    try:
        with eng.begin() as c:
            log.append(c, "bob", "replay.requested", "run:1")
            raise RuntimeError("rolled back")
    except RuntimeError:
        log.discard_pending()
    log.flush_head()
    v = _verify(eng, log)
    assert v.ok and v.entries == 5
