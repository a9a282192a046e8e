"""DaemonServer.reload over a real socket: subscriptions added, removed and changed live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon.server.support import running, write_config
from tests.daemon.server.test_http_ingress import EVENT, post

pytestmark = pytest.mark.anyio

KEPT = """
[[handlers]]
service = "kept"
pattern = "fs.>"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/kept.txt" }}
"""

GOING = """
[[handlers]]
service = "going"
pattern = "db.>"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/going.txt" }}
"""

CHANGING = """
[[handlers]]
service = "changing"
pattern = "fs.>"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/changing.txt" }}
policy = {{ mailbox = {mailbox} }}
"""

ADDED = """
[[handlers]]
service = "added"
pattern = "svc.>"
factory = "daemon.server.subscribers.simulated:sink"
"""


def _by_service(stats: Any) -> dict[str, int]:
    return {s.service: s.deliveries for s in stats.subscriptions}


async def test_reload_removes_changes_and_keeps_subscriptions(tmp_path: Path) -> None:
    """Removed ones get nothing more, a changed one gets a new mailbox, others keep theirs."""
    before_text = KEPT + GOING + CHANGING.replace("{mailbox}", "100")
    async with running(tmp_path, before_text) as (server, base), aiohttp.ClientSession() as s:
        await post(s, f"{base}/v1/events", {**EVENT, "id": "f1"})
        await post(s, f"{base}/v1/events", {**EVENT, "subject": "db.txn.committed", "id": "d1"})
        write_config(tmp_path, KEPT + CHANGING.replace("{mailbox}", "200") + ADDED)
        report = await server.reload()
        after_reload = _by_service(server.router.stats())
        await post(s, f"{base}/v1/events", {**EVENT, "id": "f2"})
        status, body, _ = await post(
            s, f"{base}/v1/events", {**EVENT, "subject": "db.txn.committed", "id": "d2"}
        )
        final = await server.shutdown()
    assert (report.ok, report.added, report.removed, report.changed, report.unsupported) == (
        True,
        ["added|svc.>"],
        ["going|db.>"],
        ["changing|fs.>"],
        [],
    )
    assert after_reload == {"kept": 1, "changing": 0, "added": 0}
    assert (status, body["accepted"]) == (202, ["d2"])
    assert (tmp_path / "kept.txt").read_text().split() == ["f1", "f2"]
    assert (tmp_path / "changing.txt").read_text().split() == ["f1", "f2"]
    assert (tmp_path / "going.txt").read_text().split() == ["d1"]
    assert (final.deliveries, final.delivered, final.unrouted, final.identity_errors) == (
        5,
        5,
        1,
        [],
    )
