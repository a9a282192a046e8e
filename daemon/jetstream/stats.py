"""The transport's own counters, reported beside the contract's ``RouterStats``."""

from __future__ import annotations

import msgspec


class JetStreamStats(msgspec.Struct, frozen=True):
    """What the stream and the consumers did in this process.

    ``redelivered`` counts messages pulled again (after a NAK, an expired
    ``ack_wait`` or a drain that gave them back); each still ends once.
    ``returned`` counts messages given back unfinished at drain; ``skipped``
    counts messages a consumer took that none of its members wanted (they
    were routed for a configuration other than this process's).
    """

    stored: int
    duplicates: int
    publish_retries: int
    publish_errors: dict[str, int]
    outgoing: int
    outgoing_bytes: int
    redelivered: int
    naks: int
    terminated: int
    returned: int
    ack_errors: int
    dead_letter_errors: int
    skipped: int
    undecodable: int
    pull_requests: int
    server_pending: int | None
