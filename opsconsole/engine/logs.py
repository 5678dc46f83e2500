"""JSON-lines logs carrying the correlation id."""

from __future__ import annotations

import contextvars
import json
import logging

correlation: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", "") or correlation.get(),
        }
        for key in ("run_id", "step", "system", "event_key", "category"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(path: str, level: int = logging.INFO) -> None:
    """Send the engine's logs to ``path`` as JSON lines (never to the console's terminal)."""
    root = logging.getLogger("opsconsole")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonLines())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
