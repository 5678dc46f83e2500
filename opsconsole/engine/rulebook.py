"""A business-rule file, loaded once and replaceable (an organisation's own rules, or a test's).

Each rule file (data/*.toml) is read on first use by its loader; ``use(rules)`` swaps in other
rules, ``use(None)`` goes back to the shipped file on next use."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Rulebook(Generic[T]):
    def __init__(self, load: Callable[[], T]) -> None:
        self._load = load
        self._rules: T | None = None

    def get(self) -> T:
        if self._rules is None:
            self._rules = self._load()
        return self._rules

    def use(self, rules: T | None) -> None:
        self._rules = rules
