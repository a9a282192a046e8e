"""The witness: a webhook receiver in its own process that records every event id it is POSTed.

The fault suite (bench/experiments/faults/) configures it as the daemon's webhook
subscriber. Each POST's event id is appended to a file (one id per line, one
unbuffered ``write`` per request, before the answer), so what it saw survives the
daemon's crash and its own end, and is counted afterwards from the file alone.

Modes: ``ok`` answers 200 at once; ``slow`` answers 200 after ``--delay-ms`` (a
subscriber slower than the load, so a backlog builds); ``hang`` records the id and
never answers (the daemon's timeout must end the attempt). Run it as
``python -m bench.http.witness --out FILE [--mode ok|slow|hang] [--delay-ms N]``;
it prints ``listening http://HOST:PORT`` once it accepts connections (port 0: a
free one) and stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec
import uvloop
from aiohttp import web

MODES = ("ok", "slow", "hang")
LISTENING = "listening "


class _Posted(msgspec.Struct):
    """The one field of a webhook body the witness needs (the rest is ignored)."""

    id: str


_decode = msgspec.json.Decoder(_Posted).decode


def build_app(fd: int, mode: str, delay_s: float) -> web.Application:
    """The receiver: ``POST /hook`` records the body's event id, then answers per ``mode``."""

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event_id = _decode(body).id
        except msgspec.DecodeError:
            return web.Response(status=400, text="not an event")
        os.write(fd, event_id.encode() + b"\n")
        if mode == "hang":
            await asyncio.Event().wait()  # until the daemon gives up and disconnects
        elif mode == "slow":
            await asyncio.sleep(delay_s)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    return app


async def serve(out: Path, mode: str, delay_s: float, host: str, port: int) -> None:
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    # handler_cancellation: a hanging request is cancelled when the daemon disconnects,
    # so abandoned attempts do not pile up as tasks in the witness.
    runner = web.AppRunner(build_app(fd, mode, delay_s), access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    bound = runner.addresses[0]
    # The readiness handshake the suite waits for (this is the process's command line).
    sys.stdout.write(f"{LISTENING}http://{bound[0]}:{bound[1]}\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        os.close(fd)


def read_ids(path: Path) -> list[str]:
    """Every id the witness recorded, in arrival order, repeats included (a torn last line,
    from a witness killed mid-write, is left out)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    if not data.endswith(b"\n"):
        lines.pop()
    return [line.decode() for line in lines if line]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http.witness")
    parser.add_argument("--out", type=Path, required=True, help="file the ids are appended to")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="answer delay of --mode slow")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.delay_ms < 0:
        parser.error("--delay-ms must be >= 0")
        return 2
    uvloop.run(serve(args.out, args.mode, args.delay_ms / 1000.0, args.host, args.port))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
