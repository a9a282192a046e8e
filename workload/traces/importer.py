"""``trace import``: a JSON-lines or CSV log into a trace.

The log streams through in chunks (``logread``), each validated a field at a
time into compact columns (``logrows``), so memory follows the event count,
not the log's size. A bad line stops the import (:class:`TraceImportError`
naming the file, line and reason) unless bad lines are skipped; then they are
counted by field and the first few kept as examples. Events are sorted by
timestamp (stable) before writing, and how many were out of order is reported.
An event without a category gets one from the scenarios' ``[categories]``
prefixes, and the category is written on every event, so the trace says how it
will be routed. Nothing is written under the destination unless the import
succeeds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from events.errors import ConfigError
from workload.config import CategoryMap
from workload.errors import TraceImportError
from workload.traces.fields import FieldPath
from workload.traces.format import FORMAT, FORMAT_FAMILY, PhaseMark, TraceHeader
from workload.traces.logread import LogFormat, csv_chunks, detect_format, json_chunks
from workload.traces.logrows import LogRows
from workload.traces.timestamps import TS_UNITS
from workload.traces.trace import Trace, freeze
from workload.traces.writer import write_trace

TOOL = "python -m workload trace import"
#: Bad-line examples kept for the report when skipping.
EXAMPLES = 5


@dataclass(frozen=True)
class ImportOptions:
    """How to read the log; ``mapping`` is {field: path} from ``--map``."""

    format: LogFormat = "auto"
    mapping: dict[str, FieldPath] = field(default_factory=dict)
    skip_bad: bool = False
    with_payloads: bool = False
    ts_unit: str = "s"
    name: str = ""
    #: (name, seconds from the trace start) phase marks.
    phases: tuple[tuple[str, float], ...] = ()
    categories: CategoryMap = field(default_factory=CategoryMap)


@dataclass(frozen=True)
class ImportReport:
    """What an import did; ``bad_reasons`` counts bad lines by the field at fault."""

    source: str
    out: str
    events: int
    bad: int
    bad_reasons: dict[str, int]
    examples: tuple[str, ...]
    out_of_order: int
    trace: Trace


def _open(path: Path) -> IO[bytes]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except OSError as exc:
        raise TraceImportError(f"{path}: {exc.strerror or exc}") from None


def import_log(src: str | Path, out: str | Path, options: ImportOptions) -> ImportReport:
    """Import the log at ``src`` into a trace at ``out``; see the module docstring."""
    src, out = Path(src), Path(out)
    if options.ts_unit not in TS_UNITS:
        raise ConfigError(f"--ts-unit must be one of {', '.join(TS_UNITS)}, got {options.ts_unit}")
    rows = LogRows(options.categories, options.ts_unit, options.with_payloads)
    reasons: Counter[str] = Counter()
    examples: list[str] = []
    last_line = 0
    with _open(src) as fh:
        try:
            first = fh.readline()
            if f'"format":"{FORMAT_FAMILY}/'.encode() in first.replace(b" ", b""):
                raise TraceImportError(f"{src} is already a Switchyard trace: use it as it is")
            fmt = options.format
            if fmt == "auto":
                fmt = detect_format(src, first.decode("utf-8", errors="replace"))
            fh.seek(0)
            chunks = (
                csv_chunks(src, io.TextIOWrapper(fh, encoding="utf-8", newline=""), options.mapping)
                if fmt == "csv"
                else json_chunks(fh, options.mapping)
            )
            for chunk in chunks:
                last_line = max([0, *chunk.numbers[-1:], *(n for n, _ in chunk.broken[-1:])])
                for number, error in rows.add(chunk):
                    message = f"{src}:{number}: {error}"
                    if not options.skip_bad:
                        raise TraceImportError(f"{message} (--skip-bad skips bad lines)")
                    reasons[error.field] += 1
                    if len(examples) < EXAMPLES:
                        examples.append(message)
        except UnicodeDecodeError as exc:
            raise TraceImportError(
                f"{src}: not UTF-8 text after line {last_line}: {exc.reason}"
            ) from None
        except (OSError, EOFError) as exc:
            raise TraceImportError(f"{src}: {exc}") from None
    if not rows.count:
        what = f"all {sum(reasons.values())} lines were bad" if reasons else "no events"
        raise TraceImportError(f"{src}: nothing to import ({what})")
    trace, out_of_order = _build(src, rows, options)
    header = write_trace(trace, out, tool=TOOL)
    trace = dataclasses.replace(trace, header=header, path=str(out))
    return ImportReport(
        source=str(src),
        out=str(out),
        events=len(trace),
        bad=sum(reasons.values()),
        bad_reasons=dict(reasons),
        examples=tuple(examples),
        out_of_order=out_of_order,
        trace=trace,
    )


def _build(src: Path, rows: LogRows, options: ImportOptions) -> tuple[Trace, int]:
    ts = rows.column("t", np.int64)
    out_of_order = int(np.count_nonzero(ts[1:] < ts[:-1]))
    order = np.argsort(ts, kind="stable")
    t0 = int(ts[order[0]])
    t_ns = ts[order] - t0
    duration_ns = max(1, int(t_ns[-1]))
    header = TraceHeader(
        format=FORMAT,
        name=options.name or src.name.split(".")[0],
        created="",
        tool=TOOL,
        events=len(t_ns),
        duration_ns=duration_ns,
        hash="",
        source=src.name,
        start=_rfc3339(t0),
        payloads=rows.payloads is not None,
        phases=_marks(src, options.phases, duration_ns),
    )
    payloads = None if rows.payloads is None else tuple(rows.payloads[i] for i in order.tolist())
    trace = Trace(
        header=header,
        t_ns=t_ns,
        subjects=tuple(rows.subject_of),
        subject_idx=rows.column("subject", np.int32)[order],
        size=rows.column("size", np.int32)[order],
        category_idx=rows.column("category", np.int8)[order],
        priority=rows.column("priority", np.int8)[order],
        sources=tuple(rows.source_of),
        source_idx=rows.column("source", np.int32)[order],
        headers_size=rows.column("hs", np.int32)[order],
        payloads=payloads,
        path=str(src),
    )
    freeze(*trace.columns())
    return trace, out_of_order


def _marks(
    src: Path, phases: tuple[tuple[str, float], ...], duration_ns: int
) -> tuple[PhaseMark, ...]:
    if not phases:
        return ()
    marks = sorted((round(start * 1e9), name) for name, start in phases)
    if marks[0][0] != 0:
        # The stretch before the first mark needs a name too.
        marks.insert(0, (0, "start"))
    names = [name for _, name in marks]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"--phase names must be distinct and non-empty: {names}")
    starts = [start for start, _ in marks]
    if len(set(starts)) != len(starts):
        raise ConfigError(f"--phase: two phases start at the same time: {names}")
    for start, name in marks:
        if start >= duration_ns:
            raise ConfigError(
                f"--phase {name}={start / 1e9:g}: at or after the end of {src}"
                f" ({duration_ns / 1e9:g} s)"
            )
    return tuple(PhaseMark(name, start) for start, name in marks)


def _rfc3339(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{moment}.{nanos:09d}Z" if nanos else f"{moment}Z"
