"""One fault case's surroundings: its directory, witness, daemon config, load and tally.

A :class:`Trial` owns a fresh directory under the suite's temporary one. It
starts the witness, writes the case's daemon config (bench/experiments/faults/
config.py), starts and signals daemons, drives the seeded load through the HTTP
ingress (bench/http/driver.py's :func:`offer`) and, at the end, stops the witness
and counts where every accepted id ended (ledger.py). For the JetStream cases it
also owns a ``nats-server`` (its store in the case's directory, so a restart on
the same port and store finds the stream again). Its methods are the vocabulary
the cases (cases.py, jetstream_cases.py) are written in.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.experiments.faults import config, ledger
from bench.experiments.faults.processes import Child, start_daemon, start_witness
from bench.host.nats import OwnServer
from bench.http.driver import LoadConfig, Offered, bearer, offer
from bench.http.witness import read_ids

#: Subscription fields every case shares: room for any backlog the suite builds
#: (far above the admission high water would be reached), so a refusal is the fault's doing.
ROOMY = {"mailbox": 500_000, "mailbox_bytes": 2**31}


class Trial:
    """The surroundings of one case; ``progress`` receives one line per step."""

    def __init__(
        self,
        name: str,
        workdir: Path,
        base: dict[str, Any],
        seed: int,
        progress: Callable[[str], None],
        token: str | None = None,
    ) -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True)
        self.base = base
        self.seed = seed
        self.progress = progress
        #: The suite principal's bearer token while the case runs with auth on (config.py).
        self.token = token
        self.witness_out = self.dir / "witness.ids"
        self.witness: Child | None = None
        self.daemons: list[Child] = []
        self.accepted: list[str] = []
        self.nats: OwnServer | None = None
        self.began = time.monotonic()

    def say(self, text: str) -> None:
        self.progress(f"[{self.name}] {text}")

    async def start_witness(self, mode: str = "ok", delay_ms: float = 0.0) -> str:
        """Start the witness; answers the webhook URL to configure."""
        log = self.dir / "witness.log"
        self.witness = await start_witness(self.witness_out, mode, delay_ms, log)
        self.say(f"witness ({mode}) at {self.witness.url}")
        return f"{self.witness.url}/hook"

    def write_config(
        self,
        url: str,
        policy: dict[str, Any],
        journal: Path | None,
        drain_timeout_s: float | None,
        transport: dict[str, Any] | None = None,
    ) -> Path:
        tables = config.case_config(
            self.base, self.dir, url=url, policy={**ROOMY, **policy}, journal=journal,
            drain_timeout_s=drain_timeout_s, transport=transport, token=self.token,
        )  # fmt: skip
        return config.write_case_config(tables, self.dir / "daemon.toml")

    async def start_daemon(self, path: Path) -> Child:
        daemon = await start_daemon(path, self.dir / "daemon.log", timeout_s=120.0)
        self.daemons.append(daemon)
        self.say(f"daemon pid {daemon.pid} listening at {daemon.url}")
        return daemon

    async def load(
        self,
        daemon: Child,
        events: int,
        rate: float,
        at_s: float | None = None,
        action: Callable[[], None] | None = None,
        also: tuple[Child, ...] = (),
    ) -> Offered:
        """Offer ``events`` at ``rate`` (steady, light profile, seeded) to ``daemon`` (and, in
        turn, to each of ``also``); keep the accepted ids."""
        cfg = LoadConfig(
            url=daemon.url, pattern="steady", profile="light", seed=self.seed,
            duration_s=events / rate, base_rate=rate, batch=100, connections=16,
            source="bench-faults", also=tuple(d.url for d in also),
        )  # fmt: skip
        self.say(f"offering {events:,} events at {rate:,.0f}/s")
        offered = await offer(cfg, at_s, action, self.token)
        self.accepted += offered.accepted_ids
        got = len(offered.accepted_ids)
        self.say(f"accepted {got:,} of {offered.events:,}: {offered.outcomes}")
        return offered

    async def status(self, daemon: Child) -> dict[str, Any] | None:
        """The daemon's ``/v1/status``, or None when it does not answer."""
        try:
            timeout = aiohttp.ClientTimeout(total=10)
            async with (
                aiohttp.ClientSession(timeout=timeout, headers=bearer(self.token)) as session,
                session.get(f"{daemon.url}/v1/status") as resp,
            ):
                if resp.status != 200:
                    return None
                body: dict[str, Any] = await resp.json()
                return body
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    async def pending(self, daemon: Child) -> int | None:
        status = await self.status(daemon)
        return None if status is None else int(status["router"]["pending"])

    async def settle(self, daemon: Child, timeout_s: float) -> int | None:
        """Wait (bounded) until the daemon has nothing pending; answers what is left."""
        deadline = time.monotonic() + timeout_s
        left = await self.pending(daemon)
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # polling another process's counter, not modelling work
            left = await self.pending(daemon)
        self.say(f"pending after settling: {left}")
        return left

    async def witnessed_all(self, timeout_s: float) -> int:
        """Wait (bounded) until the witness has every accepted id; answers how many it lacks."""
        deadline = time.monotonic() + timeout_s
        missing = len(set(self.accepted) - set(read_ids(self.witness_out)))
        while missing and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # polling another process's file, not modelling work
            missing = len(set(self.accepted) - set(read_ids(self.witness_out)))
        self.say(f"accepted ids the witness has not seen after settling: {missing}")
        return missing

    async def start_nats(self) -> str:
        """Start a ``nats-server -js`` whose store is in the case's directory; answers its URL."""
        self.nats = OwnServer(self.dir / "nats")
        url = await self.nats.start()
        self.say(f"nats-server pid {self.nats.pid} at {url}")
        return url

    async def restart_nats(self, down_s: float) -> None:
        """Stop the nats-server, stay down ``down_s``, start it again on the same port and store."""
        server = self.nats
        assert server is not None, "restart_nats before start_nats"
        self.say(f"stopping nats-server pid {server.pid}")
        await server.stop()
        await asyncio.sleep(down_s)  # the outage the case injects, not modelled work
        await server.start()
        self.say(f"nats-server back, pid {server.pid} on port {server.port}")

    async def terminate(self, daemon: Child, timeout_s: float) -> tuple[int, dict[str, Any] | None]:
        """SIGTERM and wait for the daemon's exit (a hang past ``timeout_s`` is killed)."""
        self.say(f"SIGTERM to pid {daemon.pid}")
        code = await daemon.stop(timeout_s)
        final = daemon.final()
        admitted = ledger.reported_loss(final)
        self.say(f"daemon exited {code}" + (f", reporting {admitted} lost" if admitted else ""))
        return code, final

    async def close(self) -> None:
        """Stop whatever still runs (the witness last: it must see every delivery)."""
        for daemon in self.daemons:
            await daemon.stop(10.0)
        if self.nats is not None:
            await self.nats.stop()
        if self.witness is not None:
            await self.witness.stop(10.0)

    def count(
        self, journal: Path | None, dead_stream: frozenset[str] = frozenset()
    ) -> ledger.Tally:
        """Where every accepted id ended, read from the files the processes left (and
        ``dead_stream``: the ids a JetStream dead-letter stream holds)."""
        dead, unreadable = ledger.dead_lettered_ids(self.dir / "dead-letters.jsonl", config.SERVICE)
        if unreadable:
            self.say(f"{unreadable} dead-letter lines could not be read")
        journaled = ledger.journaled_ids(journal) if journal is not None else set()
        witnessed = read_ids(self.witness_out)
        return ledger.tally(self.accepted, witnessed, dead | dead_stream, journaled)

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def logged_errors(self) -> int:
        """Lines at level error in the daemons' JSON logs (a full disk ought to leave some)."""
        log = self.dir / "daemon.log"
        if not log.exists():
            return 0
        return sum(1 for line in log.read_bytes().splitlines() if b'"level":"error"' in line)
