"""JetStreamConfig: defaults that validate, errors that name the field, namespaces, redaction."""

from __future__ import annotations

import pytest

from daemon.jetstream import JetStreamConfig
from daemon.jetstream.streams import durable_name, filter_subjects
from events import ConfigError


def test_defaults_validate_and_name_the_shared_stream() -> None:
    """Every field but url has a default; the stream and DLQ names are the documented ones."""
    config = JetStreamConfig(url="nats://127.0.0.1:4222")
    assert (config.stream, config.dead_letter_stream, config.dead_letter_prefix) == (
        "SWITCHYARD",
        "SWITCHYARD_DLQ",
        "switchyard_dlq",
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"stream": "a.b"}, "transport.stream"),
        ({"dead_letter_stream": "SWITCHYARD"}, "transport.dead_letter_stream"),
        ({"subject_prefix": "a.*"}, "transport.subject_prefix"),
        ({"url": "http://x"}, "transport.url"),
        ({"storage": "tape"}, "transport.storage"),
        ({"replicas": 0}, "transport.replicas"),
        ({"max_bytes": 10}, "transport.max_bytes"),
        ({"duplicate_window_s": 0}, "transport.duplicate_window_s"),
        ({"max_age_s": 10, "duplicate_window_s": 60}, "transport.duplicate_window_s"),
        ({"ack_wait_s": 0}, "transport.ack_wait_s"),
        ({"outgoing_max_bytes": 0}, "transport.outgoing_max_bytes"),
        ({"acks_in_flight": 0}, "transport.acks_in_flight"),
        ({"credentials": "token:"}, "transport.credentials"),
    ],
)
def test_invalid_fields_raise_config_errors_naming_them(
    fields: dict[str, object], named: str
) -> None:
    """Each bad value is refused with a ConfigError that names its field."""
    fields = {"url": "nats://127.0.0.1:4222", **fields}
    with pytest.raises(ConfigError) as caught:
        JetStreamConfig(**fields)  # type: ignore[arg-type]
    assert named in str(caught.value)


def test_namespaces_keep_streams_and_subjects_apart() -> None:
    """Two namespaces share no stream, dead-letter stream or subject prefix."""
    base = JetStreamConfig(url="nats://127.0.0.1:4222")
    one, two = base.in_namespace("one"), base.in_namespace("two")
    names = {one.stream, one.dead_letter_stream, two.stream, two.dead_letter_stream}
    assert (len(names), one.subject_prefix, two.subject_prefix) == (
        4,
        "switchyard_one",
        "switchyard_two",
    )
    with pytest.raises(ConfigError):
        base.in_namespace("a.b")


def test_url_credentials_are_redacted() -> None:
    """A password in the URL never shows in what the router logs."""
    config = JetStreamConfig(url="nats://user:s3cret@10.0.0.1:4222")
    assert "s3cret" not in config.redacted_url()
    assert config.redacted_url() == "nats://***@10.0.0.1:4222"


def test_durable_names_are_valid_stable_and_distinct() -> None:
    """Keys differing only in characters a consumer name cannot hold still get distinct names."""
    first = durable_name("sy", "sub:a|fs.>")
    second = durable_name("sy", "sub:a|fs.*")
    assert (first == durable_name("sy", "sub:a|fs.>"), first == second) == (True, False)
    assert all(c.isalnum() or c in "_-" for c in first + second)


def test_overlapping_group_patterns_share_the_whole_prefix() -> None:
    """Disjoint patterns filter exactly; overlapping ones (refused by JetStream) take '>'."""
    assert filter_subjects("p", ["db.>", "fs.>"]) == ["p.db.>", "p.fs.>"]
    assert filter_subjects("p", ["fs.>", "fs.file.*"]) == ["p.>"]
