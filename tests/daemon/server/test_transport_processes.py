"""Daemon processes on the JetStream transport: shared work, kill -9, 202 = stored, hubs.

Every daemon is a real ``python -m daemon`` subprocess on port 0; the daemons of
one test share a stream and durable consumers in a namespace of their own on the
session's nats-server (or on a server the test starts itself). Handlers are the
``recorder`` witness, which appends each handled id to a file per process before
its ack. Waits are bounded polls, never timing assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import nats
import pytest

from daemon.jetstream import EmbeddedNats, ServerBinaryMissing
from tests.daemon.server.support import final_report, start_daemon, stop, write_config

HANDLER = """
[[handlers]]
service = "rec"
pattern = "fs.>"
factory = "{factory}"
args = {{ {args} }}
policy = {{ concurrency = {concurrency}, timeout_s = 0.5 }}
"""


def transport(url: str, namespace: str, **fields: Any) -> str:
    """A [transport] table for ``url``; ``namespace`` keeps the test's streams its own."""
    table = {
        "kind": "jetstream",
        "url": url,
        "stream": f"T_{namespace}",
        "dead_letter_stream": f"T_{namespace}_DLQ",
        "subject_prefix": f"t_{namespace}",
        "max_bytes": 64 * 1024 * 1024,
        **fields,
    }
    lines = [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    return "[transport]\n" + "\n".join(lines) + "\n"


def config(
    folder: Path,
    table: str,
    *,
    delay_ms: float = 0.0,
    concurrency: int = 4,
    factory: str = "tests.daemon.server.support:recorder",
) -> Path:
    """A daemon config in ``folder`` whose recorder writes ``folder/handled.txt``."""
    folder.mkdir(parents=True, exist_ok=True)
    args = f'path = "{folder}/handled.txt", delay_ms = {delay_ms}' if "recorder" in factory else ""
    handler = HANDLER.format(factory=factory, args=args, concurrency=concurrency)
    return write_config(folder, "\n" + table + handler.replace("{", "{{").replace("}", "}}"))


def post(base: str, ids: list[str]) -> tuple[int, dict[str, Any]]:
    """POST a batch of events with ``ids``; answer (status, body)."""
    body = json.dumps([{"subject": "fs.file.created", "source": "t", "id": i} for i in ids])
    request = urllib.request.Request(
        f"{base}/v1/events:batch",
        data=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
        return resp.status, answer


def status(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/v1/status", timeout=10) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def handled(*folders: Path) -> list[str]:
    files = [folder / "handled.txt" for folder in folders]
    return [line for f in files if f.exists() for line in f.read_text().split()]


def wait_until(predicate: Any, timeout_s: float = 40.0) -> None:
    """Poll ``predicate`` (a bound against a hang, not a measurement)."""
    give_up = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < give_up, "gave up waiting"
        time.sleep(0.02)


def terminate(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    proc.send_signal(signal.SIGTERM)
    return final_report(proc, timeout_s=40)


def test_two_daemons_share_the_work(nats_url: str, tmp_path: Path) -> None:
    """Events posted to either daemon are each handled once, by one of them; both work."""
    table = transport(nats_url, secrets.token_hex(4))
    folders = [tmp_path / "a", tmp_path / "b"]
    procs = [start_daemon(config(f, table, delay_ms=1.0)) for f in folders]
    try:
        expected = {f"e{n}" for n in range(400)}
        for batch in range(20):
            ids = [f"e{n}" for n in range(batch * 20, batch * 20 + 20)]
            code, body = post(procs[batch % 2][1], ids)
            assert (202, ids) == (code, body["accepted"])
        wait_until(lambda: expected <= set(handled(*folders)))
        finals = [terminate(proc) for proc, _ in procs]
    finally:
        for proc, _ in procs:
            stop(proc)
    counts = Counter(handled(*folders))
    shares = [len(handled(folder)) > 0 for folder in folders]
    assert (set(counts), max(counts.values()), shares) == (expected, 1, [True, True])
    summed = [sum(f[key] for f in finals) for key in ("accepted", "deliveries", "delivered")]
    assert (summed, [f["drain_completed"] for f in finals]) == ([400, 400, 400], [True, True])


def test_kill_9_of_one_daemon_under_load_loses_nothing(nats_url: str, tmp_path: Path) -> None:
    """One of two daemons is killed (SIGKILL) while it holds un-acked events; after
    ack_wait the other one handles them: every event that got a 202 is handled."""
    table = transport(nats_url, secrets.token_hex(4), ack_wait_s=1.0, prefetch=16)
    victim_dir, survivor_dir = tmp_path / "victim", tmp_path / "survivor"
    # The victim is slow, so it holds un-acked messages when it dies.
    victim, victim_base = start_daemon(config(victim_dir, table, delay_ms=40.0))
    survivor, survivor_base = start_daemon(config(survivor_dir, table, delay_ms=1.0))
    accepted: list[str] = []
    try:
        for batch in range(10):
            ids = [f"k{n}" for n in range(batch * 30, batch * 30 + 30)]
            accepted += post((victim_base, survivor_base)[batch % 2], ids)[1]["accepted"]
        wait_until(lambda: len(handled(victim_dir)) >= 5)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=20)
        for batch in range(10, 15):  # load goes on, on the survivor
            ids = [f"k{n}" for n in range(batch * 30, batch * 30 + 30)]
            accepted += post(survivor_base, ids)[1]["accepted"]
        wait_until(lambda: set(accepted) <= set(handled(victim_dir, survivor_dir)))
        redelivered = status(survivor_base)["transport"]["redelivered"]
        final = terminate(survivor)
    finally:
        stop(victim)
        stop(survivor)
    counts = Counter(handled(victim_dir, survivor_dir))
    lost = set(accepted) - set(counts)
    duplicates = sum(n - 1 for n in counts.values())  # handled, killed before the ack
    assert (450, set(), victim.returncode) == (len(accepted), lost, -signal.SIGKILL), duplicates
    assert (redelivered >= 1, final["drain_completed"]) == (True, True)


def test_202_only_once_the_stream_stored_the_event(tmp_path: Path) -> None:
    """With the NATS server down a POST is not answered; once the server is back it is
    answered 202, and by then the stream holds it (both events stored, each once)."""
    store = tmp_path / "nats"
    server = EmbeddedNats(store_dir=store)
    try:
        url = server.start()
    except ServerBinaryMissing as exc:
        pytest.skip(f"no nats-server: {exc}")
    port = server.port
    namespace = secrets.token_hex(4)
    proc, base = start_daemon(config(tmp_path / "d", transport(url, namespace)))
    answers: list[tuple[int, dict[str, Any]]] = []
    try:
        assert post(base, ["before"])[0] == 202
        server.stop()
        poster = threading.Thread(target=lambda: answers.append(post(base, ["during"])))
        poster.start()
        # If a 202 came while the server is down, the check below sees it (this wait
        # can only miss such a bug, never fail a correct daemon).
        poster.join(timeout=1.0)
        unanswered_while_down = not answers
        server = EmbeddedNats(port=port, store_dir=store)
        server.start()
        poster.join(timeout=60)
        stored = asyncio.run(_last_sequence(url, f"T_{namespace}"))
        wait_until(lambda: {"before", "during"} <= set(handled(tmp_path / "d")))
    finally:
        stop(proc)
        server.stop()
    assert (unanswered_while_down, answers, stored) == (True, [(202, {"accepted": ["during"]})], 2)


async def _last_sequence(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        return int((await nc.jetstream().stream_info(stream)).state.last_seq)
    finally:
        await nc.close()


def test_a_websocket_on_one_daemon_sees_events_posted_to_another(
    nats_url: str, tmp_path: Path
) -> None:
    """Stream hubs use a consumer per process: a socket on daemon B gets what A accepted."""
    table = transport(nats_url, secrets.token_hex(4))
    (a, a_base), (b, b_base) = (start_daemon(config(tmp_path / name, table)) for name in ("a", "b"))

    async def watch() -> list[str]:
        url = f"{b_base}/v1/subscribe?pattern=fs.>"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            # The hub's consumer exists once B lists it: only then post.
            wait = time.monotonic() + 20
            while not status(b_base)["transport"]["local_consumers"]:
                assert time.monotonic() < wait, "hub consumer never declared"
                await asyncio.sleep(0.02)
            await asyncio.to_thread(post, a_base, ["w1", "w2", "w3"])
            got = []
            while len(got) < 3:
                msg = await asyncio.wait_for(ws.receive(), 20)
                got.append(json.loads(msg.data)["id"])
            return got

    try:
        seen = asyncio.run(watch())
    finally:
        stop(a)
        stop(b)
    assert seen == ["w1", "w2", "w3"]


def test_daemons_sharing_a_consumer_exit_0_when_nothing_is_lost(
    nats_url: str, tmp_path: Path
) -> None:
    """Everything is posted to a slow daemon, so the fast one handles most of it: each one's
    own accepted - delivered is far from 0 (opposite signs), yet both exit 0 reporting no
    loss, and their transport terms sum to what was accepted."""
    table = transport(nats_url, secrets.token_hex(4))
    slow_dir, fast_dir = tmp_path / "slow", tmp_path / "fast"
    slow, slow_base = start_daemon(config(slow_dir, table, delay_ms=20.0, concurrency=1))
    fast, _ = start_daemon(config(fast_dir, table, delay_ms=0.0))
    accepted: list[str] = []
    try:
        for batch in range(10):
            accepted += post(slow_base, [f"s{n}" for n in range(batch * 30, batch * 30 + 30)])[1][
                "accepted"
            ]
        wait_until(lambda: set(accepted) <= set(handled(slow_dir, fast_dir)))
        slow.send_signal(signal.SIGTERM)
        fast.send_signal(signal.SIGTERM)
        finals = [final_report(slow, timeout_s=40), final_report(fast, timeout_s=40)]
    finally:
        stop(slow)
        stop(fast)
    terms = [f["transport"] for f in finals]
    summed = [sum(t[key] for t in terms) for key in ("accepted_here", "stored", "delivered_here")]
    expected = ([0, 0], [0, 0], [{}, {}], [300, 300, 300], True)
    actual = (
        [slow.returncode, fast.returncode],
        [f["lost"] for f in finals],
        [f["lost_reasons"] for f in finals],
        summed,
        terms[0]["routed_less_ended_here"] > 0 > terms[1]["routed_less_ended_here"],
    )
    assert expected == actual, terms


def test_sigterm_leaves_the_backlog_to_the_next_daemon(nats_url: str, tmp_path: Path) -> None:
    """A daemon stopped with a backlog in the shared stream finishes what it runs, gives the
    rest back and exits 0 without handling it all; a daemon started later handles the rest:
    every accepted id is handled."""
    table = transport(nats_url, secrets.token_hex(4), prefetch=4)
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first, base = start_daemon(config(first_dir, table, delay_ms=20.0, concurrency=1))
    try:
        accepted: list[str] = []
        for batch in range(8):
            accepted += post(base, [f"b{n}" for n in range(batch * 25, batch * 25 + 25)])[1][
                "accepted"
            ]
        wait_until(lambda: len(handled(first_dir)) >= 3)
        final = terminate(first)
        left_behind = len(set(accepted) - set(handled(first_dir)))
        second, _ = start_daemon(config(second_dir, table))
        try:
            wait_until(lambda: set(accepted) <= set(handled(first_dir, second_dir)))
            terminate(second)
        finally:
            stop(second)
    finally:
        stop(first)
    expected = (0, 0, True, True, 200)
    actual = (
        first.returncode,
        final["lost"],
        final["drain_completed"],
        left_behind > 0,
        len(set(handled(first_dir, second_dir))),
    )
    assert expected == actual, final


def test_an_accepted_event_never_stored_makes_the_exit_non_zero(tmp_path: Path) -> None:
    """The server goes away; an accepted event waits for its PubAck; SIGTERM ends the drain
    without it: the event is dead-lettered 'unpublished', counted lost, and the exit is 3."""
    server = EmbeddedNats(store_dir=tmp_path / "nats")
    try:
        url = server.start()
    except ServerBinaryMissing as exc:
        pytest.skip(f"no nats-server: {exc}")
    proc, base = start_daemon(config(tmp_path / "d", transport(url, secrets.token_hex(4))))
    answers: list[int] = []

    def post_catching() -> None:
        try:
            answers.append(post(base, ["never"])[0])
        except urllib.error.HTTPError as exc:
            answers.append(exc.code)

    try:
        assert post(base, ["before"])[0] == 202
        server.stop()
        poster = threading.Thread(target=post_catching)
        poster.start()
        wait_until(lambda: status(base)["transport"]["outgoing"] == 1)
        final = terminate(proc)
        poster.join(timeout=30)
    finally:
        stop(proc)
        server.stop()
    expected = (3, 1, {"unpublished": 1}, [503])
    actual = (proc.returncode, final["lost"], final["lost_reasons"], answers)
    assert expected == actual, final
