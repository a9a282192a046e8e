"""Events, acks, stats and codecs."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events import (
    Ack,
    Category,
    ConfigError,
    Event,
    RouterStats,
    Subscription,
    decode_json,
    decode_msgpack,
    encode_json,
    encode_msgpack,
)
from events.config import load_table

text = st.text(min_size=1, max_size=20)
events_st = st.builds(
    Event,
    id=text,
    subject=st.just("fs.file.created"),
    category=st.sampled_from(list(Category)),
    source=text,
    priority=st.integers(0, 3),
    payload=st.binary(max_size=64),
    targets=st.lists(text, max_size=3).map(tuple),
    headers=st.dictionaries(text, text, max_size=3),
    seq=st.integers(0, 2**40),
    t_intended_ns=st.integers(0, 2**62),
)


@given(events_st)
def test_json_round_trip(event: Event) -> None:
    """JSON encoding then decoding gives back an equal event."""
    assert decode_json(encode_json(event)) == event


@given(events_st)
def test_msgpack_round_trip(event: Event) -> None:
    """MessagePack encoding then decoding gives back an equal event."""
    assert decode_msgpack(encode_msgpack(event)) == event


def test_unknown_field_is_an_error() -> None:
    """A field the contract does not know is refused, not silently dropped."""
    raw = b'{"id":"1","subject":"a","category":"mcp","source":"s","colour":"red"}'
    with pytest.raises(msgspec.ValidationError, match="colour"):
        decode_json(raw)


def test_category_names_are_lower_case() -> None:
    """Categories travel by their lower-case names."""
    expected = ["filesystem", "database", "external", "mcp", "service", "system"]
    assert [c.value for c in Category] == expected


def test_acks_are_shared() -> None:
    """Acks are reused, so publishing allocates none."""
    assert Ack.accepted() is Ack.accepted()
    assert Ack.rejected("overloaded") is Ack.rejected("overloaded")
    assert (Ack.accepted().ok, Ack.rejected("draining").reason) == (True, "draining")


def test_identity_errors_name_the_gap() -> None:
    """A stats record that loses a delivery says which sum is off."""
    stats = RouterStats(
        published=3,
        accepted=3,
        rejected={},
        unrouted=0,
        unknown_targets=0,
        deliveries=3,
        delivered=1,
        dead_lettered={"failed": 1},
        dropped={},
        retries=0,
        pending=0,
        dead_letter_store=1,
    )
    errors = stats.identity_errors()
    assert len(errors) == 1
    assert "deliveries 3 != delivered 1" in errors[0]


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"mailbox": 0}, "mailbox"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"pattern": "a..b"}, "empty token"),
        ({"overflow": "explode"}, "overflow"),
        ({"retry": {"attempts": 0}}, "attempts"),
        ({"breaker": {"failure_ratio": 2.0}}, "failure_ratio"),
    ],
)
def test_bad_subscription_names_the_field(fields: dict[str, object], problem: str) -> None:
    """Invalid subscription fields are refused with the field in the message."""
    with pytest.raises((ConfigError, msgspec.ValidationError), match=problem):
        msgspec.convert({"service": "s", "pattern": "a.>", **fields}, Subscription)


def test_load_table_names_file_and_field(tmp_path: object) -> None:
    """A config table with a wrong type fails naming the file, table and field."""
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "x.toml"
    path.write_text('[sub]\nservice = "a"\npattern = "b"\nconcurrency = "many"\n')
    with pytest.raises(ConfigError, match=r"x\.toml \[sub\].*concurrency"):
        load_table(path, "sub", Subscription)
