"""``python -m bench``: one sub-command per module of ``bench/commands/``.

Each such module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Errors become exit codes here, and only here: 2 for usage
or configuration errors, as each command documents for the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from bench import commands
from bench.architectures import needs_nats
from bench.exits import EXIT_USAGE
from events.errors import SwitchyardError


def _module_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if m.name != "options")


def _commands(argv: Sequence[str] = ()) -> list[ModuleType]:
    """The command modules to build the parser from.

    Only the one ``argv`` names is imported when it names one: each command
    pulls in its own heavy dependencies (numpy, scipy, aiohttp), and a
    measurement worker must not pay for the others' start-up time and memory.
    """
    names = _module_names()
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    if chosen is not None and chosen.replace("-", "_") in names:
        names = [chosen.replace("-", "_")]
    return [importlib.import_module(f"bench.commands.{name}") for name in names]


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure, compare and size the Switchyard routers under identical seeded load.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _commands(argv):
        sub = subparsers.add_parser(
            module.NAME, help=module.HELP, description=module.__doc__, formatter_class=_Formatter
        )
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _services(args: argparse.Namespace) -> contextlib.AbstractContextManager[object]:
    """What the command's architectures need running around it: a NATS server for
    ``jetstream`` (bench.host.nats), started once for the whole command."""
    archs = [a.strip() for a in str(getattr(args, "arch", None) or "").split(",") if a.strip()]
    if not needs_nats(archs):
        return contextlib.nullcontext()
    from bench.host.nats import nats_for  # imports nats-py: only when needed

    return nats_for(archs, notify=lambda line: print(f"[nats] {line}", file=sys.stderr, flush=True))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        with _services(args):
            code: int = args._run(args)
    except SwitchyardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code
