"""What produced an output: library versions, configuration, input hashes, time."""

from __future__ import annotations

import hashlib
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("reportmine", "numpy", "scipy", "pandas", "rapidfuzz", "scikit-learn",
            "statsmodels", "openpyxl", "torch")


def versions(packages=PACKAGES) -> dict[str, str]:
    """Installed versions (read from metadata: nothing heavy is imported)."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_record(config: dict, inputs: dict[str, str]) -> dict:
    """The block every output carries: when, with what versions, config and input hashes."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
        "config": config,
        "inputs_sha256": inputs,
        "platform": platform.platform(),
    }


def flat_record(record: dict, prefix: str = "") -> list[tuple[str, object]]:
    """A nested run record as (dotted key, value) pairs: ``config.hedge_as`` (a "run" sheet)."""
    pairs: list[tuple[str, object]] = []
    for key, value in record.items():
        if isinstance(value, dict):
            pairs.extend(flat_record(value, f"{prefix}{key}."))
        else:
            pairs.append((f"{prefix}{key}", value))
    return pairs
