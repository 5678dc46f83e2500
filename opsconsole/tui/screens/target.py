"""What an action applies to: the run and/or exception under the cursor of the current screen."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    run_id: int | None
    exception_id: int | None = None
    step: str = ""

    def describe(self) -> str:
        if self.exception_id is not None:
            return f"exception {self.exception_id}"
        return f"run {self.run_id}"
