"""The Xero sandbox's state as JSON and back (see :mod:`connectors.sandbox_state`).

What a restart keeps: every book (records, their indexes, ``updated`` times, number sequences),
the Idempotency-Key replay records (a retried write after a restart replays, never duplicates), the
write log with its sequence base (``/_sandbox/writes?since=`` stays monotonic), the counters, the
OAuth identity (issued codes and access/refresh tokens: ``opsconsole connect xero`` survives a
restart) and the webhook target, key, event sequence and delivery log. Not kept: the fault profile
(chosen at start) and the rate-limit windows (they start afresh, as after a quiet minute).

A book is saved attribute by attribute (everything but its references to other books and its
currency), so a field added to a book later is kept without touching this module; a snapshot
written before that field existed simply leaves it at its fresh default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.xero.sandbox import XeroSandbox

# a book's attributes that are wiring or configuration, not state
BOOK_WIRING = frozenset({"contacts", "invoices", "base_currency"})


def book_state(book: Any) -> dict[str, Any]:
    return {name: value for name, value in vars(book).items() if name not in BOOK_WIRING}


def load_book(book: Any, state: dict[str, Any]) -> None:
    fresh = vars(book)
    for name, value in state.items():
        if name in BOOK_WIRING or name not in fresh:
            raise ValueError(f"{type(book).__name__} has no state named {name!r}")
        if type(value) is not type(fresh[name]) and not (isinstance(value, (int, float)) and isinstance(fresh[name], (int, float))):
            raise ValueError(f"{type(book).__name__}.{name} is a {type(fresh[name]).__name__}, "
                             f"not a {type(value).__name__}")
        setattr(book, name, value)


def export_state(sb: XeroSandbox) -> dict[str, Any]:
    return {
        "tenant_id": sb.tenant_id,
        "books": {name: book_state(book) for name, book in sb.books().items()},
        "idempotency": [[tenant, key, stored.status, stored.media_type, stored.content.decode("utf-8")]
                        for (tenant, key), stored in sb._idempotency.items()],
        "write_log": sb.write_log, "log_base": sb._log_base,
        "writes_received": sb.writes_received, "replays": sb.replays,
        "identity": sb.identity.export_state(),
        "webhooks": sb.webhooks.export_state(),
    }


def import_state(sb: XeroSandbox, state: dict[str, Any]) -> None:
    from connectors.xero.sandbox import _Stored

    if state["tenant_id"] != sb.tenant_id:
        raise ValueError(f"saved for tenant {state['tenant_id']!r}, this sandbox serves {sb.tenant_id!r}")
    idempotency = {(str(tenant), str(key)): _Stored(int(status), content.encode("utf-8"), str(media_type))
                   for tenant, key, status, media_type, content in state["idempotency"]}
    sb._reset_state()
    for name, book in sb.books().items():
        load_book(book, state["books"].get(name, {}))
    sb._idempotency = idempotency
    sb.write_log = list(state["write_log"])
    sb._log_base = int(state["log_base"])
    sb.writes_received, sb.replays = int(state["writes_received"]), int(state["replays"])
    sb.identity.import_state(state["identity"])
    sb.webhooks.clear()
    sb.webhooks.import_state(state["webhooks"])


__all__ = ["BOOK_WIRING", "book_state", "export_state", "import_state", "load_book"]
