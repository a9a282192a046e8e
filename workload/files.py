"""Schedules to and from files, to replay later: JSON Lines or MessagePack, by extension.

JSONL: the first line is the header (``{"header": {...}}``: seed, profile,
pattern, phases, subjects, hash...), then one row per event:
``{"seq", "t_ns", "subject", "category", "payload_size", "phase"}``.
MessagePack: one map ``{"header": {...}, "rows": [[seq, t_ns, subject_idx,
category_idx, payload_size, phase_idx], ...]}``. Reading back rebuilds the arrays
and checks the recomputed hash against the header's, so a replay runs exactly
the schedule that was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from events.model import Category
from workload.config import Profile
from workload.errors import ScheduleFileError
from workload.patterns import Phase
from workload.schedule import Schedule, hash_header, schedule_hash

EXTENSIONS = (".jsonl", ".msgpack")


class Header(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int
    seed: int
    profile: Profile
    pattern: str
    duration_s: float
    phases: tuple[Phase, ...]
    subjects: tuple[str, ...]
    categories: tuple[str, ...]
    mix: tuple[float, ...]
    hash: str
    events: int


class Row(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    seq: int
    t_ns: int
    subject: str
    category: str
    payload_size: int
    phase: str


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise ScheduleFileError(
            f"{path}: unknown schedule file extension {suffix or '(none)'!r};"
            f" use {' or '.join(EXTENSIONS)}"
        )
    return suffix


def _header(schedule: Schedule) -> Header:
    return msgspec.convert(
        {**hash_header(schedule), "hash": schedule.hash, "events": len(schedule)},
        Header,
        from_attributes=True,
    )


def _columns(schedule: Schedule) -> list[list[int]]:
    return [
        list(range(len(schedule))),
        schedule.t_ns.tolist(),
        schedule.subject_idx.tolist(),
        schedule.category_idx.tolist(),
        schedule.payload_size.tolist(),
        schedule.phase_idx.tolist(),
    ]


def write_schedule(schedule: Schedule, path: str | Path) -> Path:
    """Write ``schedule`` to ``path`` (format by extension); return the path."""
    path = Path(path)
    fmt = _format(path)
    if schedule.trace is not None:
        # Its priorities and recorded payloads have no column here; the trace is the file.
        raise ScheduleFileError(
            f"{path}: a schedule replayed from trace {schedule.trace.name!r} is not written"
            " as a schedule file; keep the trace and its replay options instead"
        )
    header = _header(schedule)
    columns = _columns(schedule)
    if fmt == ".msgpack":
        rows = list(zip(*columns, strict=True))
        path.write_bytes(msgspec.msgpack.encode({"header": header, "rows": rows}))
        return path
    subjects = schedule.subjects
    categories = [c.value for c in schedule.categories]
    phases = [p.name for p in schedule.phases]
    encoder = msgspec.json.Encoder()
    with path.open("wb") as fh:
        fh.write(encoder.encode({"header": header}) + b"\n")
        buffer = bytearray()
        for seq, t, s, c, size, ph in zip(*columns, strict=True):
            row = Row(seq, t, subjects[s], categories[c], size, phases[ph])
            encoder.encode_into(row, buffer, -1)
            buffer += b"\n"
            if len(buffer) > 1 << 20:
                fh.write(buffer)
                buffer.clear()
        fh.write(buffer)
    return path


def _rebuild(header: Header, columns: list[list[int]], path: Path) -> Schedule:
    if columns[0] != list(range(len(columns[0]))):
        raise ScheduleFileError(f"{path}: rows are not in seq order 0..n-1")
    if len(columns[0]) != header.events:
        raise ScheduleFileError(f"{path}: {len(columns[0])} rows, header says {header.events}")
    arrays = (
        np.asarray(columns[1], dtype=np.int64),
        np.asarray(columns[2], dtype=np.int32),
        np.asarray(columns[3], dtype=np.int8),
        np.asarray(columns[4], dtype=np.int32),
        np.asarray(columns[5], dtype=np.int16),
    )
    for array in arrays:
        array.flags.writeable = False
    schedule = Schedule(
        seed=header.seed,
        profile=header.profile,
        pattern=header.pattern,
        duration_s=header.duration_s,
        phases=header.phases,
        subjects=header.subjects,
        categories=tuple(Category(c) for c in header.categories),
        t_ns=arrays[0],
        subject_idx=arrays[1],
        category_idx=arrays[2],
        payload_size=arrays[3],
        phase_idx=arrays[4],
        mix=header.mix,
    )
    digest = schedule_hash(hash_header(schedule), arrays)
    if digest != header.hash:
        raise ScheduleFileError(f"{path}: content does not match its hash {header.hash}")
    object.__setattr__(schedule, "hash", digest)
    return schedule


def read_schedule(path: str | Path) -> Schedule:
    """Read a schedule written by :func:`write_schedule`; its hash is verified."""
    path = Path(path)
    fmt = _format(path)
    try:
        if fmt == ".msgpack":
            doc = msgspec.msgpack.decode(path.read_bytes(), type=_MsgpackDoc)
            rows = doc.rows
            columns = [list(col) for col in zip(*rows, strict=True)] if rows else [[]] * 6
            return _rebuild(doc.header, columns, path)
        return _read_jsonl(path)
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, KeyError) as exc:
        raise ScheduleFileError(f"{path}: not a readable schedule: {exc}") from None
    except OSError as exc:
        raise ScheduleFileError(f"{path}: {exc.strerror or exc}") from None


class _MsgpackDoc(msgspec.Struct, frozen=True):
    header: Header
    rows: list[tuple[int, int, int, int, int, int]]


class _JsonlHeader(msgspec.Struct, frozen=True):
    header: Header


def _read_jsonl(path: Path) -> Schedule:
    with path.open("rb") as fh:
        header = msgspec.json.decode(fh.readline(), type=_JsonlHeader).header
        subject_of = {s: i for i, s in enumerate(header.subjects)}
        category_of = {c: i for i, c in enumerate(header.categories)}
        phase_of = {p.name: i for i, p in enumerate(header.phases)}
        decoder = msgspec.json.Decoder(Row)
        columns: list[list[Any]] = [[], [], [], [], [], []]
        for line in fh:
            row = decoder.decode(line)
            columns[0].append(row.seq)
            columns[1].append(row.t_ns)
            columns[2].append(subject_of[row.subject])
            columns[3].append(category_of[row.category])
            columns[4].append(row.payload_size)
            columns[5].append(phase_of[row.phase])
    return _rebuild(header, columns, path)
