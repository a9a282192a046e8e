"""A JetStream worker process for the multi-process tests (``python -m tests.jetstream.worker``).

It subscribes ``worker`` on ``fs.>`` in the given namespace, appends each handled
event id to ``--out`` (one line each, written before the ack), prints ``ready``
once started, publishes ``--publish`` events after reading ``go`` on stdin, and
on SIGTERM drains and prints one JSON line: its stats and transport stats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import TextIO

import msgspec

from daemon.jetstream import JetStreamConfig, JetStreamRouter
from events import Category, Event, Subscription


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--publish", type=int, default=0)
    parser.add_argument("--id-prefix", default="e")
    parser.add_argument("--handler-ms", type=float, default=0.0)
    parser.add_argument("--ack-wait", type=float, default=30.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--prefetch", type=int, default=8)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, out: TextIO) -> None:
    config = JetStreamConfig(
        url=args.url, ack_wait_s=args.ack_wait, prefetch=args.prefetch
    ).in_namespace(args.namespace)
    router = JetStreamRouter(config)

    async def handler(event: Event) -> None:
        if args.handler_ms:
            await asyncio.sleep(args.handler_ms / 1000)
        out.write(event.id + "\n")

    sub = Subscription(service="worker", pattern="fs.>", timeout_s=args.timeout)
    router.subscribe(sub, handler)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await router.start()
    print("ready", flush=True)
    if args.publish:
        await loop.run_in_executor(None, sys.stdin.readline)
        for n in range(args.publish):
            event = Event(
                id=f"{args.id_prefix}{n}",
                subject="fs.file.created",
                category=Category.FILESYSTEM,
                source="worker",
                seq=n,
            )
            while not router.publish(event).ok:  # noqa: ASYNC110 - overloaded: retry shortly
                await asyncio.sleep(0.001)
        print("published", flush=True)
    await stop.wait()
    report = await router.drain(20)
    summary = {
        "completed": report.completed,
        "stats": msgspec.to_builtins(report.stats),
        "transport": msgspec.to_builtins(router.transport_stats()),
    }
    print(json.dumps(summary), flush=True)


def main() -> None:
    args = parse(sys.argv[1:])
    # Line-buffered: each handled id reaches the file before its ack, so a kill -9 loses none.
    with open(args.out, "a", buffering=1) as out:
        asyncio.run(run(args, out))


if __name__ == "__main__":
    main()
