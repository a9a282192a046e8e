"""Reading traces: the header alone, or the whole trace validated into columns.

Events stream through in chunks (a million-event trace is never a million
line records at once); each chunk is decoded line by line, so an error names
its line, then checked and appended to the columns with numpy. The hash is
recomputed from the canonical encoding of every event and must match the
header's. Any problem is a :class:`TraceFormatError` naming the file and line.
"""

from __future__ import annotations

import gzip
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

from events.errors import InvalidSubject
from events.subjects import validate_subject
from workload.errors import TraceFormatError
from workload.traces.format import (
    TraceEvent,
    TraceHasher,
    TraceHeader,
    check_format,
    header_problems,
)
from workload.traces.trace import ABSENT, CATEGORIES, Trace, freeze

_CHUNK = 32_768
D = TypeVar("D", bound=np.generic)


def _open(path: Path) -> IO[bytes]:
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return path.open("rb")
    except OSError as exc:
        raise TraceFormatError(f"{path}: {exc.strerror or exc}") from None


def _decode_header(path: Path, line: bytes) -> TraceHeader:
    if not line.strip():
        raise TraceFormatError(f"{path}:1: empty file or blank first line (expected the header)")
    try:
        raw = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        raise TraceFormatError(f"{path}:1: the header is not JSON: {exc}") from None
    fmt = raw.get("format") if isinstance(raw, dict) else None
    problem = check_format(fmt)
    if problem is not None:
        raise TraceFormatError(f"{path}:1: {problem}")
    try:
        header = msgspec.convert(raw, TraceHeader, strict=True)
    except msgspec.ValidationError as exc:
        raise TraceFormatError(f"{path}:1: bad header: {exc}") from None
    problems = header_problems(header)
    if problems:
        raise TraceFormatError(f"{path}:1: bad header: {'; '.join(problems)}")
    return header


def read_header(path: str | Path) -> TraceHeader:
    """The validated header of the trace at ``path`` (events are not read)."""
    path = Path(path)
    with _open(path) as fh:
        try:
            line = fh.readline()
        except (OSError, EOFError) as exc:
            raise TraceFormatError(f"{path}: {exc}") from None
        return _decode_header(path, line)


class _Columns:
    """Growing columns: a list of numpy chunks per column, joined at the end."""

    def __init__(self, payloads: bool) -> None:
        self.t: list[npt.NDArray[np.int64]] = []
        self.subject: list[npt.NDArray[np.int32]] = []
        self.size: list[npt.NDArray[np.int32]] = []
        self.category: list[npt.NDArray[np.int8]] = []
        self.priority: list[npt.NDArray[np.int8]] = []
        self.source: list[npt.NDArray[np.int32]] = []
        self.headers_size: list[npt.NDArray[np.int32]] = []
        self.payloads: list[bytes] | None = [] if payloads else None
        self.subject_of: dict[str, int] = {}
        self.source_of: dict[str, int] = {}
        self.last_t = 0
        self.count = 0


def _optional(values: Sequence[int | None], dtype: type[D]) -> npt.NDArray[D]:
    if all(v is None for v in values):
        return np.full(len(values), ABSENT, dtype=dtype)
    return np.asarray([ABSENT if v is None else v for v in values], dtype=dtype)


def _index(values: list[str], table: dict[str, int], check: bool) -> list[int]:
    out = []
    for value in values:
        index = table.get(value)
        if index is None:
            if check:
                validate_subject(value)
            index = table[value] = len(table)
        out.append(index)
    return out


def _add_chunk(
    path: Path, first_line: int, events: list[TraceEvent], header: TraceHeader, cols: _Columns
) -> None:
    def fail(i: int, reason: str) -> TraceFormatError:
        return TraceFormatError(f"{path}:{first_line + i}: {reason}")

    t = np.asarray([e.t for e in events], dtype=np.int64)
    previous = np.concatenate(([cols.last_t], t[:-1]))
    back = np.flatnonzero(t < previous)
    if back.size:
        i = int(back[0])
        raise fail(i, f"t {int(t[i])} is before the previous event's {int(previous[i])}")
    late = np.flatnonzero(t > header.duration_ns)
    if late.size:
        i = int(late[0])
        raise fail(i, f"t {int(t[i])} is after the trace's duration_ns {header.duration_ns}")
    subjects = [e.subject for e in events]
    try:
        subject_idx = _index(subjects, cols.subject_of, check=True)
    except InvalidSubject as exc:
        i = next(i for i, s in enumerate(subjects) if s not in cols.subject_of)
        raise fail(i, str(exc)) from None
    sizes = [e.size for e in events]
    if cols.payloads is not None:
        for i, e in enumerate(events):
            if e.payload is None:
                raise fail(i, "no payload, but the header says the trace has payloads")
            if len(e.payload) != e.size:
                raise fail(i, f"size {e.size} but the payload has {len(e.payload)} bytes")
        cols.payloads.extend(e.payload for e in events if e.payload is not None)
    else:
        for i, e in enumerate(events):
            if e.payload is not None:
                raise fail(i, "a payload, but the header says the trace has none")
    sources = [e.source for e in events]
    if all(s is None for s in sources):
        source_idx = np.full(len(events), ABSENT, dtype=np.int32)
    else:
        present = [s for s in sources if s is not None]
        mapped = iter(_index(present, cols.source_of, check=False))
        source_idx = np.asarray(
            [ABSENT if s is None else next(mapped) for s in sources], dtype=np.int32
        )
    cols.t.append(t)
    cols.subject.append(np.asarray(subject_idx, dtype=np.int32))
    cols.size.append(np.asarray(sizes, dtype=np.int32))
    category_of = {c: i for i, c in enumerate(CATEGORIES)}
    categories = [None if e.category is None else category_of[e.category] for e in events]
    cols.category.append(_optional(categories, np.int8))
    cols.priority.append(_optional([e.priority for e in events], np.int8))
    cols.source.append(source_idx)
    cols.headers_size.append(_optional([e.headers_size for e in events], np.int32))
    cols.last_t = int(t[-1])
    cols.count += len(events)


def _decode_lines(
    path: Path, first_line: int, lines: list[bytes], decode: msgspec.json.Decoder[TraceEvent]
) -> list[TraceEvent]:
    try:
        return [decode.decode(line) for line in lines]
    except (msgspec.DecodeError, msgspec.ValidationError):
        pass
    for i, line in enumerate(lines):
        where = f"{path}:{first_line + i}"
        if not line.strip():
            raise TraceFormatError(f"{where}: blank line (a trace has one event per line)")
        try:
            decode.decode(line)
        except msgspec.ValidationError as exc:
            raise TraceFormatError(f"{where}: bad event: {exc}") from None
        except msgspec.DecodeError as exc:
            raise TraceFormatError(f"{where}: not a JSON event line: {exc}") from None
    raise AssertionError("a chunk failed to decode but no line did")  # pragma: no cover


def read_trace(path: str | Path) -> Trace:
    """Read and validate the whole trace at ``path``; its hash is verified."""
    path = Path(path)
    with _open(path) as fh:
        try:
            return _read(path, fh)
        except (OSError, EOFError) as exc:
            raise TraceFormatError(f"{path}: {exc}") from None


def _read(path: Path, fh: IO[bytes]) -> Trace:
    header = _decode_header(path, fh.readline())
    decoder = msgspec.json.Decoder(TraceEvent)
    encode = msgspec.json.Encoder().encode
    hasher = TraceHasher()
    cols = _Columns(header.payloads)
    line_no = 2
    while True:
        lines = list(itertools.islice(fh, _CHUNK))
        if not lines:
            break
        if cols.count + len(lines) > header.events:
            extra = line_no + header.events - cols.count
            raise TraceFormatError(f"{path}:{extra}: more events than the header's {header.events}")
        events = _decode_lines(path, line_no, lines, decoder)
        _add_chunk(path, line_no, events, header, cols)
        hasher.update_lines([encode(e) for e in events])
        line_no += len(lines)
    if cols.count != header.events:
        raise TraceFormatError(f"{path}: {cols.count} events, the header says {header.events}")
    digest = hasher.finish(cols.count, header.duration_ns, header.phases)
    if digest != header.hash:
        raise TraceFormatError(
            f"{path}: content does not match the header's hash {header.hash} (computed {digest})"
        )
    return _assemble(path, header, cols)


def _join(chunks: list[npt.NDArray[D]], dtype: type[D]) -> npt.NDArray[D]:
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=dtype)


def _assemble(path: Path, header: TraceHeader, cols: _Columns) -> Trace:
    trace = Trace(
        header=header,
        t_ns=_join(cols.t, np.int64),
        subjects=tuple(cols.subject_of),
        subject_idx=_join(cols.subject, np.int32),
        size=_join(cols.size, np.int32),
        category_idx=_join(cols.category, np.int8),
        priority=_join(cols.priority, np.int8),
        sources=tuple(cols.source_of),
        source_idx=_join(cols.source, np.int32),
        headers_size=_join(cols.headers_size, np.int32),
        payloads=None if cols.payloads is None else tuple(cols.payloads),
        path=str(path),
    )
    freeze(*trace.columns())
    return trace
