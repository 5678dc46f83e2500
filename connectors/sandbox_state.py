"""A sandbox's state kept in a file, so a demo survives a restart.

A snapshot is one JSON file per vendor (``<state dir>/<vendor>.json``)::

    {"format": "opsconsole-sandbox-state", "version": 1, "vendor": "xero", "saved_at": "...Z",
     "state": {...}}

``state`` is what the sandbox's ``export_state()`` returns and its ``import_state()`` takes. Writes
are atomic (a temporary file in the same directory, fsync, ``os.replace``, then an fsync of the
directory), so a crash leaves either the old snapshot or the new one, never half of one.

Loading is forgiving but loud: a file that cannot be read, parsed or imported (corrupt, another
format version, another vendor's) is moved aside as ``<name>.corrupt-<UTC timestamp>``, a message
naming it goes to stderr and the log, and the sandbox starts fresh (seeded as without a file).

Saving is coalesced and off the request path: :class:`DebouncedSaver` is told "something changed"
(an O(1) flag) by :class:`MarkDirty`, an ASGI wrapper that marks every mutating request (any
method but GET/HEAD/OPTIONS, except the read-only POSTs ``.../search`` and ``.../batch/read``);
its background task snapshots at most every ``delay`` seconds after the first change (0.5 s by
default), writes the file in a worker thread, and saves one last time on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Callable, TypeVar

import orjson

FORMAT = "opsconsole-sandbox-state"
VERSION = 1
DEFAULT_DELAY_S = 0.5
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_POST_SUFFIXES = ("/search", "/batch/read")

log = logging.getLogger("opsconsole.sandbox_state")
T = TypeVar("T")


class StateError(Exception):
    """A snapshot that cannot be used: unreadable, not JSON, another format, version or vendor."""


def state_path(state_dir: Path | str, vendor: str) -> Path:
    return Path(state_dir) / f"{vendor}.json"


def _utc_stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def encode(vendor: str, state: dict) -> bytes:
    """The snapshot file's bytes for ``state`` (raises TypeError on a value JSON cannot hold)."""
    envelope = {"format": FORMAT, "version": VERSION, "vendor": vendor,
                "saved_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "state": state}
    return orjson.dumps(envelope)


def decode(vendor: str, raw: bytes) -> dict:
    """The ``state`` of a snapshot file's bytes; :class:`StateError` says why it cannot be used."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StateError(f"not valid JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateError(f"not a sandbox state file (no \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise StateError(f"format version {doc.get('version')!r}, this opsconsole reads version {VERSION}")
    if doc.get("vendor") != vendor:
        raise StateError(f"it holds the {doc.get('vendor')!r} sandbox's state, not {vendor!r}'s")
    if not isinstance(doc.get("state"), dict):
        raise StateError("it has no state object")
    return doc["state"]


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (tmp file + fsync + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - a platform without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def save_state(path: Path, vendor: str, state: dict) -> None:
    write_bytes_atomic(path, encode(vendor, state))


def quarantine(path: Path, reason: str, *, announce: Callable[[str], None] | None = None) -> Path | None:
    """Move an unusable snapshot aside as ``<name>.corrupt-<timestamp>`` and say so; return where."""
    aside = path.with_name(f"{path.name}.corrupt-{_utc_stamp()}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        aside = None
        reason += f"; it could not be moved aside ({exc})"
    where = f"; moved to {aside}" if aside else ""
    message = f"sandbox state {path} is unusable: {reason}{where}. Starting without it (fresh sandbox)."
    (announce or _stderr)(message)
    return aside


def _stderr(message: str, level: int = logging.WARNING) -> None:
    """Say it on stderr (what a person starting the sandbox reads), and to the log when one is set up
    (without one, logging's last resort would print it to stderr a second time)."""
    print(message, file=sys.stderr, flush=True)
    if log.hasHandlers():
        log.log(level, message)


def load_state(path: Path, vendor: str, *, announce: Callable[[str], None] | None = None) -> dict | None:
    """The saved state at ``path``, or None when there is none or it was unusable (then moved aside)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):  # left by a crash in the middle of a save
        tmp.unlink(missing_ok=True)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        quarantine(path, f"cannot be read ({exc})", announce=announce)
        return None
    try:
        return decode(vendor, raw)
    except StateError as exc:
        quarantine(path, str(exc), announce=announce)
        return None


def restore(path: Path, vendor: str, build: Callable[[], T], *, sandbox: T | None = None,
            announce: Callable[[str], None] | None = None) -> tuple[T, bool]:
    """``sandbox`` (else one from ``build()``) with the state saved at ``path`` imported:
    ``(sandbox, restored)``.

    When the file is missing ``restored`` is False. When it is unusable, or its import fails (a
    file of this version whose content does not fit), it is moved aside, a message is given, and a
    freshly built sandbox is returned with ``restored`` False (the caller seeds it as usual)."""
    if sandbox is None:
        sandbox = build()
    state = load_state(path, vendor, announce=announce)
    if state is None:
        return sandbox, False
    try:
        sandbox.import_state(state)  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - whatever the content, never start half-imported
        quarantine(path, f"its content does not fit the {vendor} sandbox ({type(exc).__name__}: {exc})",
                   announce=announce)
        return build(), False
    return sandbox, True


class DebouncedSaver:
    """Saves ``export()`` to ``path`` at most once per ``delay`` seconds after a change.

    ``mark_dirty()`` is all the request path pays (a flag check). The snapshot itself is taken on
    the event loop (a consistent view: handlers mutate state only there), serialised there, and
    written in a worker thread. ``close()`` stops the task and saves once more if anything changed.
    ``flush()`` saves synchronously (no loop needed). ``clock`` is injectable for tests.
    """

    def __init__(self, path: Path, vendor: str, export: Callable[[], dict], *, delay: float = DEFAULT_DELAY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.vendor = vendor
        self.export = export
        self.delay = delay
        self.clock = clock
        self.saves = 0
        self.errors = 0
        self._dirty = False
        self._dirty_at = 0.0
        self._write_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    # --- what the request path calls ---------------------------------------------------------
    def mark_dirty(self) -> None:
        if self._dirty:
            return
        self._dirty = True
        self._dirty_at = self.clock()
        if self._wake is not None:
            self._wake.set()

    @property
    def dirty(self) -> bool:
        return self._dirty

    def due(self) -> bool:
        """True when a change is waiting and ``delay`` has passed since the first of them."""
        return self._dirty and self.clock() - self._dirty_at >= self.delay

    # --- saving --------------------------------------------------------------------------------
    def _take(self) -> bytes | None:
        if not self._dirty:
            return None
        self._dirty = False
        return encode(self.vendor, self.export())

    def _write(self, data: bytes) -> bool:
        with self._write_lock:
            try:
                write_bytes_atomic(self.path, data)
            except OSError as exc:
                self.errors += 1
                _stderr(f"cannot save sandbox state to {self.path}: {exc}", logging.ERROR)
                return False
            self.saves += 1
            return True

    def flush(self) -> bool:
        """Save now if anything changed (synchronously); True if a save was written."""
        data = self._take()
        if data is None:
            return False
        if not self._write(data):
            self._dirty = True
            return False
        return True

    def tick(self) -> bool:
        """Save if one is due (for callers that drive the saver by hand, e.g. tests)."""
        return self.flush() if self.due() else False

    async def _flush_async(self) -> None:
        data = self._take()
        if data is not None and not await asyncio.to_thread(self._write, data):
            self._dirty = False
            self.mark_dirty()  # try again after another delay (and on shutdown)

    # --- the background task ---------------------------------------------------------------------
    def start(self) -> asyncio.Task:
        """Start saving in the background (inside the server's running event loop)."""
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        if self._dirty:
            self._wake.set()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"save:{self.vendor}")
        return self._task

    async def _run(self) -> None:
        assert self._wake is not None and self._stop is not None
        while not self._stop.is_set():
            await self._wake.wait()
            self._wake.clear()
            wait = self._dirty_at + self.delay - self.clock()
            if wait > 0 and not self._stop.is_set():
                try:
                    await asyncio.wait_for(self._stop.wait(), wait)
                except TimeoutError:
                    pass
            await self._save_logged()
        await self._save_logged()

    async def _save_logged(self) -> None:
        try:
            await self._flush_async()
        except Exception:  # noqa: BLE001 - an export bug must not end saving (or the shutdown) silently
            self.errors += 1
            log.exception("cannot snapshot the %s sandbox", self.vendor)

    async def close(self) -> None:
        """Stop the background task and save the last changes."""
        if self._task is None:
            self.flush()
            return
        assert self._wake is not None and self._stop is not None
        self._stop.set()
        self._wake.set()
        await self._task
        self._task = None


class MarkDirty:
    """ASGI wrapper: marks ``saver`` dirty after each request that may change state."""

    def __init__(self, app: Any, mark: Callable[[], None]) -> None:
        self.app = app
        self.mark = mark

    def __getattr__(self, name: str) -> Any:  # ``.state``, ``.routes`` and the like of the wrapped app
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET") in READ_ONLY_METHODS:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope.get("method") == "POST" and path.endswith(READ_ONLY_POST_SUFFIXES):
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.mark()


__all__ = ["DEFAULT_DELAY_S", "FORMAT", "VERSION", "DebouncedSaver", "MarkDirty", "StateError", "decode",
           "encode", "load_state", "quarantine", "restore", "save_state", "state_path", "write_bytes_atomic"]
