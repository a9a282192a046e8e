"""The daemon as a process exits even when a handler ignores cancellation."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.daemon.server.support import final_report, start_daemon, stop, write_config

pytestmark = pytest.mark.anyio

DEAF = """
[[handlers]]
service = "deaf"
pattern = ">"
factory = "tests.daemon.server.support:deaf"
"""


async def test_sigterm_with_a_deaf_handler_exits_3_and_reports_it(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Drain gives up on the stuck worker; the process reports its event lost, exits 3, no hang."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(write_config(tmp_path, DEAF, drain_s=0.2))
    try:
        async with aiohttp.ClientSession() as s:
            event = {"subject": "fs.file.created", "source": "t", "id": "stuck"}
            async with s.post(f"{base}/v1/events", json=event) as resp:
                assert resp.status == 202
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc, timeout_s=30.0)
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pytest.fail("the daemon did not exit behind a handler that ignores cancellation")
    finally:
        stop(proc)
    actual = (code, report["drain_completed"], report["abandoned_workers"], report["delivered"])
    assert actual == (3, False, 1, 0)
    assert (report["deliveries"], report["lost_reasons"]) == (1, {"pending_at_exit": 1})
