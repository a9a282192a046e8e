"""Result schema versions: the current one is read, retired ones are refused saying why."""

from __future__ import annotations

import msgspec
import pytest

from bench.schema import RETIRED, SCHEMA, SchemaError, decode_compare
from tests.bench.report.fixtures import make


def test_the_current_schema_is_3_and_2_is_retired() -> None:
    """p95, payload MB/s, idle RSS and the rest came with switchyard.bench/3."""
    assert (SCHEMA, "switchyard.bench/2" in RETIRED) == ("switchyard.bench/3", True)


def test_a_comparison_of_schema_2_is_refused_naming_what_changed() -> None:
    """A bench/2 file is refused with what it lacks and what to do."""
    raw = msgspec.json.decode((make.HERE / "summary-better.json").read_bytes())
    raw["schema"] = "switchyard.bench/2"
    with pytest.raises(SchemaError, match=r"older than this bench reads.*no p95.*measure again"):
        decode_compare(msgspec.json.encode(raw), "old.json")
