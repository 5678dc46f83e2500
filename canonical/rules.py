"""Where canonical's rule files live: the ``data/`` shipped inside the package, unless the settings
point at an organisation's own copy (the engine passes that directory in)."""

from __future__ import annotations

import tomllib
from pathlib import Path

DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "opsconsole" / "data"


def load_toml(name: str, data_dir: Path | None = None) -> dict:
    """One rule file from ``data_dir`` (default: the shipped data/); errors name the file."""
    path = Path(data_dir or DEFAULT_DATA_DIR) / name
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(f"rule file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
