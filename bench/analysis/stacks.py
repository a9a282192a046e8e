"""Profiles as collapsed stacks: parse them, rank functions by self time, convert cProfile.

A collapsed stack is one line ``root;caller;...;leaf COUNT`` (py-spy's ``raw``
format, Brendan Gregg's folded format): COUNT samples were taken with exactly that
stack. A function's **self** time is the samples where it is the leaf (it was
running, not waiting on a callee); its **total** time the samples where it appears
anywhere in the stack (counted once per stack, so recursion is not double counted).

cProfile records, per function, its own time and its callers, not whole stacks.
:func:`from_pstats` rebuilds approximate stacks from that graph the way flameprof
does: from each root, a function's cumulative time is split among its callees in
proportion to the time each call edge took; its own time becomes the samples of the
stack ending in it (in microseconds). The self-time table from cProfile is exact; its
flame graph is an approximation, and the report says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from events.errors import SwitchyardError

_LINE = re.compile(r"^(.*?)\s*(\d+)\s*$")
#: The stack of a sample that caught no Python frame (interpreter start-up, native code).
NO_FRAME = "(no Python frame)"
#: Prune rebuilt stacks below this share of the total (keeps the graph readable).
MIN_SHARE = 0.0005
MAX_DEPTH = 96
#: The project's root: its own files are shown relative to it.
PROJECT = Path(__file__).resolve().parents[2]


class StackError(SwitchyardError):
    """Raised when a profile's stacks cannot be read."""


class FunctionTime(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One function's self and total share of the samples."""

    function: str
    self_samples: float
    total_samples: float
    self_share: float
    total_share: float


def parse_collapsed(text: str) -> dict[tuple[str, ...], float]:
    """Collapsed-stack text -> {stack (root first): samples}; blank lines are skipped."""
    out: dict[tuple[str, ...], float] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise StackError(f"line {number}: not 'frame;frame;... COUNT': {line[:80]!r}")
        stack = tuple(f for f in match.group(1).split(";") if f) or (NO_FRAME,)
        out[stack] = out.get(stack, 0.0) + float(match.group(2))
    return out


def to_collapsed(stacks: Mapping[tuple[str, ...], float]) -> str:
    """The inverse of :func:`parse_collapsed` (counts rounded to integers)."""
    return "".join(f"{';'.join(s)} {round(n)}\n" for s, n in stacks.items() if round(n) > 0)


def top_self(stacks: Mapping[tuple[str, ...], float], n: int = 20) -> tuple[FunctionTime, ...]:
    """The ``n`` functions with the most self samples, with their total samples."""
    total = sum(stacks.values())
    own: dict[str, float] = {}
    anywhere: dict[str, float] = {}
    for stack, count in stacks.items():
        if not stack:
            continue
        own[stack[-1]] = own.get(stack[-1], 0.0) + count
        for frame in set(stack):
            anywhere[frame] = anywhere.get(frame, 0.0) + count
    ranked = sorted(own.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return tuple(
        FunctionTime(
            function=name,
            self_samples=count,
            total_samples=anywhere[name],
            self_share=count / total if total else 0.0,
            total_share=anywhere[name] / total if total else 0.0,
        )
        for name, count in ranked
    )


def exact_self(rows: Iterable[tuple[str, float, float]], n: int = 20) -> tuple[FunctionTime, ...]:
    """(function, self seconds, cumulative seconds) rows -> the top ``n`` by self time
    (cProfile's own figures; shares are of the summed self time)."""
    items = list(rows)
    total = sum(own for _, own, _ in items)
    ranked = sorted(items, key=lambda r: (-r[1], r[0]))[:n]
    return tuple(
        FunctionTime(name, own * 1e6, cum * 1e6, own / total if total else 0.0,
                     min(1.0, cum / total) if total else 0.0)
        for name, own, cum in ranked
    )  # fmt: skip


def short_path(file: str) -> str:
    """A source path as py-spy shows it: the part from the package on."""
    for marker in ("site-packages/", "dist-packages/"):
        if marker in file:
            return file.split(marker, 1)[1]
    match = re.search(r"/python\d+\.\d+/(.*)$", file)
    if match:
        return match.group(1)
    try:
        return str(Path(file).resolve().relative_to(PROJECT))
    except ValueError:
        return file


def frame_name(func: tuple[str, int, str]) -> str:
    """A pstats key (file, line, function) as ``function (file:line)``."""
    file, line, name = func
    return f"{name} ({short_path(file)}:{line})" if line else name


def pstats_rows(stats: Mapping[Any, Any]) -> list[tuple[str, float, float]]:
    """(function, self s, cumulative s) of every function in ``pstats.Stats.stats``."""
    return [(frame_name(f), float(v[2]), float(v[3])) for f, v in stats.items()]


def from_pstats(stats: Mapping[Any, Any]) -> dict[tuple[str, ...], float]:
    """Approximate collapsed stacks (weights in microseconds) from ``pstats.Stats.stats``:
    ``{func: (cc, nc, tt, ct, {caller: (cc, nc, tt, ct)})}`` (see the module docstring)."""
    callees: dict[Any, list[tuple[Any, float]]] = {}
    for func, value in stats.items():
        for caller, edge in value[4].items():
            callees.setdefault(caller, []).append((func, float(edge[3])))
    if not stats:
        return {}
    roots = [f for f, v in stats.items() if not v[4]]
    widest = max(stats, key=lambda f: float(stats[f][3]))
    if sum(float(stats[f][3]) for f in roots) < 0.5 * float(stats[widest][3]):
        # The entry frames call each other (exec -> <module> -> exec under ``-m``), so no
        # function lacks a caller: start from the one holding the most time instead.
        roots = [widest]
    total = sum(float(stats[f][3]) for f in roots) or 1.0
    out: dict[tuple[str, ...], float] = {}

    def walk(func: Any, budget: float, path: tuple[Any, ...]) -> None:
        tt, ct = float(stats[func][2]), float(stats[func][3])
        if budget <= total * MIN_SHARE or len(path) > MAX_DEPTH:
            return
        names = tuple(frame_name(f) for f in path)
        scale = budget / ct if ct > 0 else 0.0
        own = tt * scale
        if own > 0:
            out[names] = out.get(names, 0.0) + own * 1e6
        for callee, edge_ct in callees.get(func, []):
            if callee in path or callee not in stats:
                continue  # recursion: its time is already inside this frame's
            walk(callee, edge_ct * scale, (*path, callee))

    for root in roots:
        walk(root, float(stats[root][3]), (root,))
    return out
