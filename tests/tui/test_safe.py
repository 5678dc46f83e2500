"""Untrusted text, ages, and the import boundary of opsconsole.tui."""

from __future__ import annotations

import ast
from pathlib import Path

from rich.text import Text

import opsconsole.tui
from opsconsole.tui.fmt import age, count_of, trunc
from opsconsole.tui.safe import clean, plain, pretty_json


def test_clean_strips_escapes_and_controls():
    evil = "Acme\x1b[2J\x1b]0;title\x07 Ltd\x9b31m\x00\u202eevil\r\nnext\tcol"
    assert clean(evil) == "Acme Ltdevil next col"
    assert clean(evil, oneline=False) == "Acme Ltdevil\nnext\tcol"
    assert clean(None) == ""


def test_plain_never_parses_markup():
    text = plain("[bold red]boom[/bold red] [link=http://x]click[/link]")
    assert isinstance(text, Text)
    assert text.plain == "[bold red]boom[/bold red] [link=http://x]click[/link]"
    assert text.spans == []


def test_pretty_json_is_indented_and_clean():
    text = pretty_json({"name": "Acme\x9b2J", "n": 1})
    assert text.plain == '{\n  "name": "Acme",\n  "n": 1\n}'
    assert pretty_json(None).plain == "(none)"
    assert pretty_json("not json \x1b[31m").plain == "not json "
    assert pretty_json('{"a": 1}').plain == '{\n  "a": 1\n}'


def test_age_is_compact():
    assert [age(s) for s in (0, 4, 59, 60, 3599, 7200, 86399, 5 * 86400, -3)] == [
        "0s", "4s", "59s", "1m", "59m", "2h", "23h", "5d", "0s"]
    assert trunc("abcdef", 4) == "abc…" and trunc("abc", 4) == "abc"


def test_a_count_takes_its_noun_in_the_right_number():
    assert [count_of(n, "rejected webhook") for n in (0, 1, 2)] == [
        "0 rejected webhooks", "1 rejected webhook", "2 rejected webhooks"]


FORBIDDEN = ("sqlalchemy", "httpx", "connectors", "opsconsole.store", "opsconsole.engine")


def test_tui_imports_no_store_engine_or_http():
    root = Path(opsconsole.tui.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names
                          if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]
    assert offenders == []
