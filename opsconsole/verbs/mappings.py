"""``opsconsole mappings``: check the versioned mapping files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.group()
def mappings() -> None:
    """The vendor <-> canonical mapping files (data/mappings/<vendor>/<entity>.v<N>.toml)."""


@mappings.command("check")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path),
              help="Mapping directory (default: the settings' data dir, else the shipped data/mappings).")
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
def mappings_check(directory: Path | None, as_json: bool) -> None:
    """Validate every mapping file against the canonical model and the vendor's description.

    Each problem names its file and key path. Exit status 0 when every file is valid, 1 otherwise.
    """
    from opsconsole.mapcheck import check_directory

    problems, checked = check_directory(directory)
    if as_json:
        click.echo(json.dumps({"files": checked, "problems": [
            {"file": f, "key": k, "problem": p} for f, k, p in problems]}, indent=2))
    else:
        for file, key, problem in problems:
            click.echo(f"{file}: {key}: {problem}")
        click.echo(f"{len(checked)} mapping files checked, {len(problems)} problems")
    sys.exit(1 if problems else 0)
