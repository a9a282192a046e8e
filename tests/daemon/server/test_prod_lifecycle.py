"""The daemon as a process: SIGTERM under load loses nothing, SIGHUP reloads, config checks."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.journal.event_journal import read_dead_letters
from tests.daemon.server.support import REPO, final_report, start_daemon, stop, write_config

pytestmark = pytest.mark.anyio

SLOW_RECORDER = """
[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/delivered.txt", delay_ms = 2.0 }}
policy = {{ mailbox = 100000 }}
"""


async def _load(base: str, accepted: list[str], stop_after: asyncio.Event, worker: int) -> None:
    n = 0
    async with aiohttp.ClientSession() as s:
        while True:
            batch = [
                {"subject": "fs.file.created", "source": "t", "id": f"w{worker}-{n + i}"}
                for i in range(25)
            ]
            n += 25
            try:
                async with s.post(f"{base}/v1/events:batch", json=batch) as resp:
                    if resp.status == 202:
                        accepted.extend((await resp.json())["accepted"])
                    elif resp.status == 503:
                        stop_after.set()
                        return
            except aiohttp.ClientError:
                return
            if len(accepted) >= 2000:
                stop_after.set()


async def test_sigterm_under_load_delivers_or_journals_every_accepted_event(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Every 202-accepted id ends delivered or in the dead-letter journal; the identity holds."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(write_config(tmp_path, SLOW_RECORDER, drain_s=0.3))
    try:
        accepted: list[str] = []
        enough = asyncio.Event()
        tasks = [asyncio.create_task(_load(base, accepted, enough, w)) for w in range(3)]
        await asyncio.wait_for(enough.wait(), 30)
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        report = final_report(proc)
    finally:
        stop(proc)
    delivered = (tmp_path / "delivered.txt").read_text().split()
    spilled = [d.event.id for d in read_dead_letters(tmp_path / "dead.jsonl")]
    ended = set(delivered) | set(spilled)
    assert proc.returncode == 0
    assert report["identity_errors"] == []
    assert set(accepted) - ended == set()
    assert (len(delivered) + len(spilled), len(ended)) == (report["accepted"], report["accepted"])
    assert report["spilled_total"] == len(spilled) > 0


RELOADABLE = """
[[handlers]]
service = "first"
pattern = "fs.>"
factory = "daemon.server.subscribers.simulated:sink"
"""

ADDED = """
[[handlers]]
service = "second"
pattern = "db.>"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/second.txt" }}
"""


async def _status(s: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with s.get(f"{base}/v1/status") as resp:
        body: dict[str, Any] = await resp.json()
        return body


async def _until(s: aiohttp.ClientSession, base: str, key: str, value: int) -> dict[str, Any]:
    for _ in range(500):  # bounded poll: SIGHUP is handled asynchronously
        status = await _status(s, base)
        if status["reloads"][key] >= value:
            return status
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {key} reload seen")


CHANGED = (
    RELOADABLE
    + """policy = {{ mailbox = 500 }}
"""
)


async def test_sighup_adds_removes_changes_and_refuses_bad_config(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """SIGHUP adds, then removes and changes subscriptions live; an invalid file is refused."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    config = write_config(tmp_path, RELOADABLE)
    proc, base = start_daemon(config)
    try:
        async with aiohttp.ClientSession() as s:
            write_config(tmp_path, RELOADABLE + ADDED)
            proc.send_signal(signal.SIGHUP)
            after_ok = await _until(s, base, "ok", 1)
            event = {"subject": "db.txn.committed", "source": "t", "id": "r1"}
            async with s.post(f"{base}/v1/events", json=event) as resp:
                posted = resp.status
            config.write_text(config.read_text() + "\n[server]\nbogus = 1\n")
            proc.send_signal(signal.SIGHUP)
            after_bad = await _until(s, base, "refused", 1)
            write_config(tmp_path, CHANGED)  # "second" removed, "first" changed
            proc.send_signal(signal.SIGHUP)
            after_swap = await _until(s, base, "ok", 2)
            event = {"subject": "db.txn.committed", "source": "t", "id": "r2"}
            async with s.post(f"{base}/v1/events", json=event) as resp:
                posted_after = resp.status
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc)
    finally:
        stop(proc)
    services = [sub["service"] for sub in after_ok["router"]["subscriptions"]]
    assert (services, posted) == (["first", "second"], 202)
    assert len(after_bad["router"]["subscriptions"]) == 2
    swapped = [sub["service"] for sub in after_swap["router"]["subscriptions"]]
    assert (swapped, posted_after) == (["first"], 202)
    assert (tmp_path / "second.txt").read_text().split() == ["r1"]
    assert (report["unrouted"], report["delivered"], report["identity_errors"]) == (1, 1, [])


def test_check_config_exit_codes(tmp_path: Path) -> None:
    """--check-config exits 0 on the shipped config and 2 naming the field on a bad one."""
    good = subprocess.run(
        [sys.executable, "-m", "daemon", "--check-config"], cwd=REPO, capture_output=True
    )
    bad_path = tmp_path / "bad.toml"
    bad_path.write_text("[server]\nport = 99999\n")
    bad = subprocess.run(
        [sys.executable, "-m", "daemon", "--check-config", "--config", str(bad_path)],
        cwd=REPO,
        capture_output=True,
    )
    assert (good.returncode, bad.returncode) == (0, 2)
    assert b"server.port" in bad.stderr


STUCK = """
[[handlers]]
service = "stuck"
pattern = ">"
factory = "tests.daemon.server.support:blocked"
"""


async def test_second_signal_exits_at_once(tmp_path: Path, anyio_backend: Any) -> None:
    """A SIGTERM during a long drain is answered by exiting at once, with code 1."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(write_config(tmp_path, STUCK, drain_s=60.0))
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{base}/v1/events", json={"subject": "fs.a", "source": "t"}):
                pass
            proc.send_signal(signal.SIGTERM)
            for _ in range(500):  # handshake: readiness turns off once draining began
                async with s.get(f"{base}/readyz") as resp:
                    if resp.status == 503:
                        break
                await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
    finally:
        stop(proc)
    assert (resp.status, code) == (503, 1)
