"""Reading comparisons back exactly as they were written, NaN included.

msgspec writes a non-finite float (the ``nan`` of a ratio that could not be
computed, e.g. when no run of an architecture was usable for throughput) as
JSON ``null``, and :func:`bench.schema.decode_compare` then refuses the
``null`` where a float is declared. Here ``null`` in a ratio's float fields is
read back as the ``nan`` that was written, and everything else is validated
as :func:`~bench.schema.decode_compare` does (the
schema version of the comparison and of every run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from bench.schema import SCHEMA, CompareResult, SchemaError

RATIO_FLOATS = ("baseline_mean", "arch_mean", "ratio", "low", "high")


def restore_nan(raw: Any) -> Any:
    """Turn ``null`` back into ``nan`` in the ratio floats of a raw comparison (in place)."""
    if isinstance(raw, dict) and isinstance(raw.get("ratios"), list):
        for ratio in raw["ratios"]:
            if isinstance(ratio, dict):
                for key in RATIO_FLOATS:
                    if key in ratio and ratio[key] is None:
                        ratio[key] = float("nan")
    return raw


def decode_comparison(data: bytes | str, where: str) -> CompareResult:
    """Validate and decode a comparison; raise :class:`SchemaError` saying why not."""
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    try:
        result = msgspec.convert(restore_nan(raw), type=CompareResult)
    except msgspec.ValidationError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    versions = {result.schema, *(record.result.schema for record in result.runs)}
    if versions != {SCHEMA}:
        raise SchemaError(f"{where}: schema {sorted(versions)} is not {SCHEMA!r}")
    return result


def load_comparison(path: str | Path) -> CompareResult:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read: {exc.strerror}") from None
    return decode_comparison(data, str(path))
