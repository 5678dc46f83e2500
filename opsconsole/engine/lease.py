"""One engine per store: the lease, its fencing number, and the claiming of work.

The lease is a row with a holder, an expiry renewed while the holder is alive, and a fencing
number that grows by one each time the lease changes hands. Every group commit of the engine calls
:meth:`Lease.check` inside its transaction, so a process that lost the lease (paused, partitioned,
presumed dead) can never commit again, even if it still believes it holds it.

Kept behind this one small interface so that a later PostgreSQL deployment can hold one lease per
partition of business keys (:meth:`owns`) without touching the engine.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.exc import OperationalError

from opsconsole.store import prepared as P
from opsconsole.store.tables import lease as lease_table

ENGINE_LEASE = "engine"
_CHECK = select(lease_table.c.holder, lease_table.c.fencing).where(lease_table.c.name == bindparam("lease_name"))

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """This process no longer holds the lease: it must stop writing."""


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    fencing: int
    expires_at: float
    acquired_at: float
    info: dict

    @property
    def alive(self) -> bool:
        return self.expires_at > time.time()


def default_holder(kind: str) -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}"


def read_lease(conn: Connection, name: str = ENGINE_LEASE) -> LeaseInfo | None:
    row = conn.execute(select(lease_table).where(lease_table.c.name == name)).mappings().first()
    if row is None:
        return None
    return LeaseInfo(row["holder"], row["fencing"], row["expires_at"], row["acquired_at"], row["info"] or {})


class Lease:
    """The engine lease of one store, seen from one process."""

    def __init__(self, engine: Engine, holder: str, *, ttl_s: float = 10.0, name: str = ENGINE_LEASE,
                 info: dict | None = None) -> None:
        self.engine = engine
        self.holder = holder
        self.ttl_s = ttl_s
        self.name = name
        self.info = info or {}
        self.fencing: int | None = None
        self._check_params = {"lease_name": name}

    def try_acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours. Returns whether we hold it.

        A store whose write lock stays taken past the busy timeout (a holder frozen inside a
        transaction) counts as "not yet": the caller waits and asks again, it does not crash.
        """
        try:
            return self._try_acquire()
        except OperationalError as exc:
            if "locked" not in str(exc.orig):
                raise
            log.warning("store is locked by another writer; waiting for the lease")
            return False

    def _try_acquire(self) -> bool:
        now = time.time()
        with self.engine.begin() as conn:
            current = read_lease(conn, self.name)
            if current is None:
                conn.execute(insert(lease_table).values(
                    name=self.name, holder=self.holder, fencing=1, expires_at=now + self.ttl_s,
                    acquired_at=now, info=self.info))
                self.fencing = 1
                return True
            if current.holder == self.holder and current.fencing == self.fencing:
                conn.execute(update(lease_table).where(lease_table.c.name == self.name)
                             .values(expires_at=now + self.ttl_s))
                return True
            if current.expires_at > now:
                return False
            fencing = current.fencing + 1
            conn.execute(update(lease_table).where(lease_table.c.name == self.name).values(
                holder=self.holder, fencing=fencing, expires_at=now + self.ttl_s, acquired_at=now,
                info=self.info))
            self.fencing = fencing
            return True

    def renew(self) -> None:
        """Extend the lease. Raises LeaseLost when someone else holds it now."""
        now = time.time()
        with self.engine.begin() as conn:
            result = conn.execute(
                update(lease_table)
                .where(lease_table.c.name == self.name, lease_table.c.holder == self.holder,
                       lease_table.c.fencing == self.fencing)
                .values(expires_at=now + self.ttl_s))
            if result.rowcount != 1:
                raise LeaseLost(f"lease {self.name!r} was taken over (our fencing number {self.fencing})")

    def release(self) -> None:
        """Give the lease up at once (on a clean shutdown) so a successor need not wait."""
        if self.fencing is None:
            return
        with self.engine.begin() as conn:
            conn.execute(
                update(lease_table)
                .where(lease_table.c.name == self.name, lease_table.c.holder == self.holder,
                       lease_table.c.fencing == self.fencing)
                .values(expires_at=0.0))
        self.fencing = None

    def check(self, conn: Connection) -> None:
        """Inside a write transaction: refuse to commit unless our fencing number is current."""
        found = P.rows(conn, "lease_check", _CHECK, self._check_params)  # runs in every group commit
        holder, fencing = found[0] if found else (None, None)
        if holder != self.holder or fencing != self.fencing:
            raise LeaseLost(
                f"fencing check failed: lease {self.name!r} is held by "
                f"{holder or 'nobody'} (fencing {fencing if found else '-'}), ours was {self.fencing}")

    def owns(self, business_key: str) -> bool:
        """Whether this process may claim work for ``business_key`` (one partition for now)."""
        return self.fencing is not None
