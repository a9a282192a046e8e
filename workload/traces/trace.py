"""A trace in memory: its header and index-aligned, read-only columns (one row per event)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from events.model import Category
from workload.traces.format import TraceEvent, TraceHeader

#: ``Category`` in order; ``category_idx`` indexes it.
CATEGORIES = tuple(Category)
#: Marks an optional field an event does not carry.
ABSENT = -1


@dataclass(frozen=True, eq=False)
class Trace:
    """A validated trace; optional columns hold :data:`ABSENT` where a line lacks the field."""

    header: TraceHeader
    t_ns: npt.NDArray[np.int64]
    subjects: tuple[str, ...]
    subject_idx: npt.NDArray[np.int32]
    size: npt.NDArray[np.int32]
    category_idx: npt.NDArray[np.int8]
    priority: npt.NDArray[np.int8]
    sources: tuple[str, ...]
    source_idx: npt.NDArray[np.int32]
    headers_size: npt.NDArray[np.int32]
    payloads: tuple[bytes, ...] | None = None
    path: str = ""

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def hash(self) -> str:
        return self.header.hash

    @property
    def duration_ns(self) -> int:
        return self.header.duration_ns

    def columns(self) -> tuple[npt.NDArray[np.generic], ...]:
        return (
            self.t_ns,
            self.subject_idx,
            self.size,
            self.category_idx,
            self.priority,
            self.source_idx,
            self.headers_size,
        )

    def iter_events(self, chunk: int = 4096) -> Iterator[list[TraceEvent]]:
        """The events as line records, in order, ``chunk`` at a time."""
        subjects = self.subjects
        for begin in range(0, len(self), chunk):
            part = slice(begin, begin + chunk)
            t = self.t_ns[part].tolist()
            yield [
                TraceEvent(*fields)
                for fields in zip(
                    t,
                    [subjects[s] for s in self.subject_idx[part].tolist()],
                    self.size[part].tolist(),
                    _optional(self.source_idx[part], self.sources),
                    _optional(self.priority[part], None),
                    _optional(self.category_idx[part], CATEGORIES),
                    _optional(self.headers_size[part], None),
                    itertools.repeat(None) if self.payloads is None else self.payloads[part],
                    strict=False,
                )
            ]


def _optional(
    values: npt.NDArray[np.generic], table: tuple[object, ...] | None
) -> Iterable[object]:
    if bool((values == ABSENT).all()):
        return itertools.repeat(None)
    if table is None:
        return [None if v == ABSENT else v for v in values.tolist()]
    return [None if v == ABSENT else table[v] for v in values.tolist()]


def freeze(*arrays: npt.NDArray[np.generic]) -> None:
    """Make ``arrays`` read-only (a trace's columns never change once built)."""
    for array in arrays:
        array.flags.writeable = False
