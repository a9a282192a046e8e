"""The server hands its journal what segment reclaim needs."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from daemon.server.config import load_config
from daemon.server.server import DaemonServer
from tests.daemon.server.support import running, write_config

JOURNAL = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"
segment_bytes = 4096
"""


def test_journal_gets_router_dead_letters_and_segment_size(tmp_path: Path) -> None:
    """With the journal on, reclaim sees the router and the dead-letter journal."""
    server = DaemonServer(load_config(write_config(tmp_path, JOURNAL)))
    journal = server.journal
    assert journal is not None
    actual = (journal.segment_bytes, journal.router, journal.dead_letters)
    assert actual == (4096, server.router, server.dead_letter_journal)


def test_journal_off_means_none(tmp_path: Path) -> None:
    """The shipped default keeps the journal off: no journal object at all."""
    server = DaemonServer(load_config(write_config(tmp_path, "")))
    assert server.journal is None


@pytest.mark.parametrize("size", [0, 4095])
def test_tiny_segments_are_refused(tmp_path: Path, size: int) -> None:
    """A segment size under 4096 bytes is a config error naming the field."""
    from events.errors import ConfigError

    text = JOURNAL.replace("segment_bytes = 4096", f"segment_bytes = {size}")
    with pytest.raises(ConfigError, match=r"journal\.segment_bytes"):
        load_config(write_config(tmp_path, text))


@pytest.mark.anyio
async def test_status_shows_the_journal_segments(tmp_path: Path) -> None:
    """/v1/status reports the journal's segment counters beside its appends."""
    async with (
        running(tmp_path, JOURNAL) as (_, base),
        aiohttp.ClientSession() as s,
        s.get(f"{base}/v1/status") as resp,
    ):
        journal = (await resp.json())["journal"]
    keys = {"appended", "segments_closed", "segments_deleted", "segments_kept"}
    assert keys <= set(journal)
    assert (journal["segments_closed"], journal["segments_deleted"]) == (0, 0)
