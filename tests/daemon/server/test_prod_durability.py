"""The daemon as a process loses nothing it accepted: a SIGTERM with a backlog larger
than the in-memory dead-letter store leaves every accepted event delivered or on disk,
and a dead-letter file that cannot be written makes it exit 3 and say how many."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from daemon.journal.event_journal import read_dead_letters
from tests.daemon.server.support import REPO, final_report, start_daemon, stop, write_config

pytestmark = pytest.mark.anyio

SLOW = """
[[handlers]]
service = "slow"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/delivered.txt", delay_ms = 20.0 }}
policy = {{ mailbox = 100000 }}
"""

DEAD_WEBHOOK = """
[[webhooks]]
service = "gone"
pattern = ">"
url = "http://127.0.0.1:{port}/hook"
policy = {{ mailbox = 100000, concurrency = 4 }}
"""


def closed_port() -> int:
    """A local port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def offer(base: str, total: int, prefix: str, workers: int = 4) -> list[str]:
    """POST ``total`` events in batches of 50; answer the ids the daemon accepted (202)."""
    accepted: list[str] = []
    per_worker = total // workers

    async def worker(w: int, s: aiohttp.ClientSession) -> None:
        for start in range(0, per_worker, 50):
            batch = [
                {"subject": "fs.file.created", "source": "t", "id": f"{prefix}{w}-{start + i}"}
                for i in range(50)
            ]
            async with s.post(f"{base}/v1/events:batch", json=batch) as resp:
                if resp.status == 202:
                    accepted.extend((await resp.json())["accepted"])

    async with aiohttp.ClientSession() as s:
        await asyncio.gather(*(worker(w, s) for w in range(workers)))
    return accepted


def witnessed(tmp: Path) -> tuple[set[str], set[str]]:
    """(ids the recorder saw delivered, ids in the dead-letter file)."""
    path = tmp / "delivered.txt"
    delivered = set(path.read_text().split()) if path.exists() else set()
    return delivered, {d.event.id for d in read_dead_letters(tmp / "dead.jsonl")}


@pytest.mark.parametrize(
    ("subscriber", "total"),
    [("slow-handler", 12_000), ("closed-port-webhook", 22_000)],
)
async def test_sigterm_with_a_backlog_beyond_the_store_leaves_every_event_on_disk(
    tmp_path: Path, anyio_backend: Any, subscriber: str, total: int
) -> None:
    """More undelivered events at SIGTERM than the store's 10,000: all are in the file, exit 0."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    extra = (
        SLOW if subscriber == "slow-handler" else DEAD_WEBHOOK.replace("{port}", str(closed_port()))
    )
    proc, base = start_daemon(write_config(tmp_path, extra, drain_s=0.2))
    try:
        accepted = await offer(base, total, "b")
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc, timeout_s=60.0)
    finally:
        stop(proc)
    delivered, dead = witnessed(tmp_path)
    assert len(accepted) > 10_000
    assert set() == set(accepted) - delivered - dead
    assert (proc.returncode, report["lost"], report["lost_reasons"]) == (0, 0, {})
    assert len(dead) == report["spilled_total"] > 10_000


async def test_a_dead_letter_file_that_cannot_be_written_exits_3_and_says_how_many(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """The dead-letter directory replaced by a file: writes fail, logged; exit 3 counts them."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    config = write_config(tmp_path, DEAD_WEBHOOK.replace("{port}", str(closed_port())))
    config.write_text(
        config.read_text().replace(f"{tmp_path}/dead.jsonl", f"{tmp_path}/dl/dead.jsonl")
    )
    blocker = tmp_path / "dl"
    blocker.write_text("a file where the dead-letter directory should be")
    proc, base = start_daemon(config)
    try:
        accepted = await offer(base, 200, "x")
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc, timeout_s=60.0)
    finally:
        stop(proc)
    log = (tmp_path / "daemon.log").read_text()
    last = log.strip().splitlines()[-1]
    assert proc.returncode == 3
    assert len(accepted) == report["lost"] == report["lost_reasons"]["dead_letter_write_failed"]
    assert report["dead_letter_write_errors"] > 0
    assert "dead-letter file write failed" in log
    assert f"{len(accepted)} accepted deliveries lost" in last


JOURNAL_HELD = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"

[[handlers]]
service = "held"
pattern = ">"
factory = "tests.daemon.server.support:blocked"
"""

JOURNAL_RECORDING = """
[journal]
enabled = true
path = "{tmp}/journal.jsonl"

[[handlers]]
service = "rec"
pattern = ">"
factory = "tests.daemon.server.support:recorder"
args = {{ path = "{tmp}/delivered.txt" }}
"""


def with_window(config: Path, window_s: float) -> Path:
    text = config.read_text().replace(
        "max_batch = 50", f"max_batch = 50\nduplicate_window_s = {window_s}"
    )
    config.write_text(text)
    return config


async def post(s: aiohttp.ClientSession, base: str, event_id: str) -> dict[str, Any]:
    event = {"subject": "fs.file.created", "source": "t", "id": event_id}
    async with s.post(f"{base}/v1/events", json=event) as resp:
        assert resp.status == 202
        body: dict[str, Any] = await resp.json()
        return body


def crash(proc: Any) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


async def test_a_duplicate_id_is_answered_as_such_before_and_after_a_crash(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Resends of an accepted id get "duplicates" (also after kill -9 + replay); delivered once."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(with_window(write_config(tmp_path, JOURNAL_HELD), 120))
    try:
        async with aiohttp.ClientSession() as s:
            first = await post(s, base, "a")
            resent = await post(s, base, "a")
        crash(proc)
    finally:
        stop(proc)
    proc, base = start_daemon(with_window(write_config(tmp_path, JOURNAL_RECORDING), 120))
    try:
        async with aiohttp.ClientSession() as s:
            after = await post(s, base, "a")
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc)
    finally:
        stop(proc)
    assert (first, resent) == ({"accepted": ["a"]}, {"accepted": [], "duplicates": ["a"]})
    assert after == {"accepted": [], "duplicates": ["a"]}
    assert ((tmp_path / "delivered.txt").read_text().split(), report["lost"]) == (["a"], 0)


async def test_an_id_accepted_again_after_the_window_is_replayed_twice_after_a_crash(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Two acceptances of one id, apart by more than the window, both survive kill -9."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(with_window(write_config(tmp_path, JOURNAL_HELD), 0.2))
    try:
        async with aiohttp.ClientSession() as s:
            answers = [await post(s, base, "a")]
            while (len(answers) < 500 and answers[-1] != {"accepted": ["a"]}) or len(answers) == 1:
                await asyncio.sleep(0.02)  # a bounded poll until the window has passed
                answers.append(await post(s, base, "a"))
        crash(proc)
    finally:
        stop(proc)
    proc, base = start_daemon(with_window(write_config(tmp_path, JOURNAL_RECORDING), 0.2))
    try:
        proc.send_signal(signal.SIGTERM)
        report = final_report(proc)
    finally:
        stop(proc)
    accepted = sum(answer == {"accepted": ["a"]} for answer in answers)
    assert (accepted, (tmp_path / "delivered.txt").read_text().split()) == (2, ["a", "a"])
    assert (report["delivered"], report["lost"]) == (2, 0)


def run_daemon(config: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "daemon", "--config", str(config), *args],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize("names", [["app.log", "app.log.1", "app.log.2"], ["app.log.00000001"]])
def test_a_journal_path_over_foreign_files_is_refused_and_the_files_are_kept(
    tmp_path: Path, names: list[str]
) -> None:
    """Files the journal did not write at its path: exit 2 naming one, every file intact."""
    for name in names:
        (tmp_path / name).write_text(f"{name}: someone else's log line\n")
    journal = '\n[journal]\nenabled = true\npath = "{tmp}/app.log"\n'
    done = run_daemon(write_config(tmp_path, journal))
    kept = {name: (tmp_path / name).read_text() for name in names}
    assert done.returncode == 2
    assert f"{tmp_path}/{names[0]}" in done.stderr.decode()
    assert {name: f"{name}: someone else's log line\n" for name in names} == kept


@pytest.mark.parametrize(
    ("journal_path", "clash"),
    [
        ("{tmp}/dead.jsonl", "equal to lifecycle.dead_letter_journal"),
        ("{tmp}/dead", "a prefix of lifecycle.dead_letter_journal"),
        ("{tmp}/final", "a prefix of lifecycle.final_report"),
    ],
)
def test_check_config_refuses_a_journal_path_over_another_configured_path(
    tmp_path: Path, journal_path: str, clash: str
) -> None:
    """--check-config exits 2 naming both keys when the journal could take another file."""
    journal = f'\n[journal]\nenabled = true\npath = "{journal_path}"\n'
    done = run_daemon(write_config(tmp_path, journal), "--check-config")
    assert (done.returncode, clash in done.stderr.decode()) == (2, True)


async def get_json(s: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with s.get(url) as resp:
        return resp.status, await resp.json()


async def poll_ready(s: aiohttp.ClientSession, base: str, status: int) -> dict[str, Any]:
    """Poll /readyz (bounded) until it answers ``status``; answer its body."""
    for _ in range(1000):
        code, body = await get_json(s, f"{base}/readyz")
        if code == status:
            result: dict[str, Any] = body
            return result
        await asyncio.sleep(0.01)
    raise AssertionError(f"/readyz never answered {status}")


RATE_LIMITED = """
[admission.principals]
"anonymous" = {{ rate = 0.001, burst = 1.0 }}

[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"
"""


async def test_readyz_is_503_while_intake_refuses_most_requests(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Nearly every request answered 429: /readyz turns 503 and says how many were refused."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(write_config(tmp_path, RATE_LIMITED))
    try:
        async with aiohttp.ClientSession() as s:
            before, _ = await get_json(s, f"{base}/readyz")
            codes = []
            for i in range(40):
                event = {"subject": "fs.file.created", "source": "t", "id": f"r{i}"}
                async with s.post(f"{base}/v1/events", json=event) as resp:
                    codes.append(resp.status)
            body = await poll_ready(s, base, 503)
        proc.send_signal(signal.SIGTERM)
        final_report(proc)
    finally:
        stop(proc)
    assert (before, codes) == (200, [202] + [429] * 39)
    # How many fall in the 10-s span depends on the machine's speed: only the shares are fixed.
    (reason,) = [r for r in body["reasons"] if r.startswith("refusing intake: ")]
    refused, _, requests = reason.split(": ")[1].split()[:3]
    assert (int(refused) > int(requests) / 2, reason.endswith("the last 10 s")) == (True, True)


FAILING_JOURNAL = """
[journal]
enabled = true
path = "{tmp}/jdir/journal.jsonl"

[[handlers]]
service = "sink"
pattern = ">"
factory = "daemon.server.subscribers.simulated:sink"
"""


async def test_a_failing_journal_is_logged_counted_and_not_ready_until_it_recovers(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """Journal writes fail: 503 journal_failed, a log line, the counter, /readyz 503; then back."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    proc, base = start_daemon(write_config(tmp_path, FAILING_JOURNAL))
    jdir = tmp_path / "jdir"
    try:
        async with aiohttp.ClientSession() as s:
            jdir.rmdir()
            jdir.write_text("a file where the journal's directory was")
            event = {"subject": "fs.file.created", "source": "t", "id": "j1"}
            async with s.post(f"{base}/v1/events", json=event) as resp:
                answered = (resp.status, (await resp.json())["error"])
            failing = await poll_ready(s, base, 503)
            async with s.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
            jdir.unlink()
            jdir.mkdir()
            recovered = await poll_ready(s, base, 200)
        proc.send_signal(signal.SIGTERM)
        final_report(proc)
    finally:
        stop(proc)
    errors = [
        line for line in metrics.splitlines() if line.startswith("switchyard_journal_errors_total")
    ]
    assert answered == (503, "journal_failed")
    assert [r.startswith("journal failing: ") for r in failing["reasons"]] == [True]
    assert (len(errors), float(errors[0].split()[1]) >= 1) == (1, True)
    assert "journal write failed" in (tmp_path / "daemon.log").read_text()
    assert recovered == {"ready": True, "reasons": []}


async def test_sighup_on_a_config_path_that_is_a_directory_is_refused_in_one_log_line(
    tmp_path: Path, anyio_backend: Any
) -> None:
    """An unreadable config at SIGHUP: refused, counted, logged as JSON; no raw traceback."""
    if anyio_backend[1]:
        pytest.skip("a process test: one event-loop flavour is enough")
    config = write_config(tmp_path, RATE_LIMITED)
    proc, base = start_daemon(config)
    try:
        config.unlink()
        config.mkdir()
        proc.send_signal(signal.SIGHUP)
        async with aiohttp.ClientSession() as s:
            for _ in range(1000):  # bounded poll: SIGHUP is handled asynchronously
                _, status = await get_json(s, f"{base}/v1/status")
                if status["reloads"]["refused"]:
                    break
                await asyncio.sleep(0.01)
            async with s.get(f"{base}/metrics") as resp:
                metrics = await resp.text()
        proc.send_signal(signal.SIGTERM)
        final_report(proc)
    finally:
        stop(proc)
    lines = (tmp_path / "daemon.log").read_text().splitlines()
    refused = [json.loads(line) for line in lines if "reload refused" in line]
    assert (status["reloads"], proc.returncode) == ({"ok": 0, "refused": 1}, 0)
    assert ["IsADirectoryError" in entry["error"] for entry in refused] == [True]
    assert 'switchyard_reloads_total{outcome="refused"} 1.0' in metrics
    assert [line for line in lines if not line.startswith("{")] == []
