"""Untrusted text (business keys, vendor error bodies, payloads) rendered safely.

Vendor text can carry terminal escape sequences and Rich markup. :func:`clean` strips escape
sequences and control characters; :func:`plain` wraps the result in a :class:`rich.text.Text`,
which is never parsed as markup.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rich.highlighter import JSONHighlighter
from rich.text import Text

# CSI / OSC / DCS / single-character ESC sequences (7-bit and 8-bit introducers)
_ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC/DCS/SOS/PM/APC ... ST
    r"|\x1b[ -/]*[0-~]?"  # other ESC sequences (and a lone ESC)
)
# C0 (but tab/newline), DEL, C1, and bidi overrides that reorder what the operator reads
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_WHITESPACE = re.compile(r"[\t\n]+")

_json_highlighter = JSONHighlighter()


def clean(value: Any, *, oneline: bool = True) -> str:
    """``value`` as text with escape sequences and control characters removed.

    Args:
        value: anything; ``None`` becomes "".
        oneline: also fold tabs and newlines into single spaces (for table cells).
    """
    if value is None:
        return ""
    text = _CONTROLS.sub("", _ESCAPES.sub("", str(value)).replace("\r", ""))
    return _WHITESPACE.sub(" ", text) if oneline else text


def plain(value: Any, *, oneline: bool = True, style: str = "") -> Text:
    """``value`` as a plain :class:`Text` (never markup), cleaned by :func:`clean`."""
    return Text(clean(value, oneline=oneline), style=style, no_wrap=oneline)


def pretty_json(data: Any) -> Text:
    """A payload as indented, highlighted JSON (a string payload is shown as it is, cleaned)."""
    if data is None:
        return Text("(none)", style="dim")
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return plain(data, oneline=False)
    body = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    text = Text(clean(body, oneline=False))
    _json_highlighter.highlight(text)
    return text
