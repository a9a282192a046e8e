"""Turning chunks of log values into trace columns, a field at a time, naming bad lines.

Each field's values are converted by one pass over the chunk (numpy where the
values allow it). A line is bad for the first field, in ``fields.FIELDS``
order, that cannot be read; the good lines of the chunk are appended and the
bad ones returned with their line numbers, so the caller decides to stop or to
skip. Subjects are checked once each with the ingress's own validator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from events.errors import InvalidSubject
from events.model import PRIORITY_MAX, PRIORITY_MIN
from events.subjects import validate_subject
from workload.config import CategoryMap
from workload.traces.fields import BadValue, parse_int
from workload.traces.format import MAX_SIZE
from workload.traces.logread import Chunk
from workload.traces.timestamps import TS_UNITS, parse_ts, rfc3339_column
from workload.traces.trace import ABSENT, CATEGORIES

_INT64 = 2**63 - 1
Bad = dict[int, BadValue]


class LogRows:
    """The growing columns of an import (chunks of numpy arrays, joined by :meth:`column`)."""

    def __init__(self, categories: CategoryMap, ts_unit: str, with_payloads: bool) -> None:
        self.categories = categories
        self.exponent = TS_UNITS[ts_unit]
        self.chunks: dict[str, list[npt.NDArray[Any]]] = {
            name: [] for name in ("t", "subject", "size", "category", "priority", "source", "hs")
        }
        self.payloads: list[bytes] | None = [] if with_payloads else None
        self.subject_of: dict[str, int] = {}
        self.subject_category: list[int] = []
        self.source_of: dict[str, int] = {}
        self.position = {c.value: i for i, c in enumerate(CATEGORIES)}
        self.count = 0

    def column(self, name: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
        parts = self.chunks[name]
        return np.concatenate(parts).astype(dtype) if parts else np.empty(0, dtype=dtype)

    def add(self, chunk: Chunk) -> list[tuple[int, BadValue]]:
        """Append the chunk's good lines; return its bad ones as (line, error), in line order."""
        bad: Bad = {}
        ts, subject, size, payload, source, priority, category, hs = chunk.values
        # Fields are read in FIELDS order: a line is bad for the first one that fails.
        t = self._ts(ts, bad)
        subjects = self._subjects(subject, bad)
        columns: dict[str, npt.NDArray[Any]] = {
            "t": t,
            "subject": subjects,
            "size": self._sizes(size, payload, bad),
        }
        columns["category"] = self._categories(category, subjects, bad)
        columns["priority"] = self._ints("priority", priority, PRIORITY_MIN, PRIORITY_MAX, bad)
        columns["hs"] = self._ints("headers_size", hs, 0, MAX_SIZE, bad)
        columns["source"] = self._sources(source, bad)
        keep = np.ones(len(chunk.numbers), dtype=bool)
        keep[list(bad)] = False
        for name, values in columns.items():
            self.chunks[name].append(values[keep])
        if self.payloads is not None:
            self.payloads += [
                p for p, k in zip(payload, keep.tolist(), strict=True) if k and p is not None
            ]
        self.count += int(keep.sum())
        found = [(chunk.numbers[i], error) for i, error in bad.items()]
        return sorted(chunk.broken + found, key=lambda item: item[0])

    def _ts(self, values: list[Any], bad: Bad) -> npt.NDArray[np.int64]:
        exponent = self.exponent
        if _all_strings(values):
            out, parsed = rfc3339_column(values)
            rest = np.flatnonzero(~parsed)
        else:
            out, rest = np.zeros(len(values), dtype=np.int64), np.arange(len(values))
        if not rest.size:
            return out
        try:
            out[rest] = np.fromiter(
                (parse_ts(values[i], exponent) for i in rest.tolist()),
                dtype=np.int64,
                count=rest.size,
            )
            return out
        except (BadValue, OverflowError):
            pass
        for i in rest.tolist():
            value = values[i]
            try:
                ns = parse_ts(value, exponent)
                if not -_INT64 <= ns <= _INT64:
                    raise BadValue("ts", f"ts {value} is out of range")
                out[i] = ns
            except BadValue as exc:
                bad.setdefault(i, exc)
        return out

    def _subjects(self, values: list[Any], bad: Bad) -> npt.NDArray[np.int32]:
        known = self.subject_of
        index = [known.get(v) if type(v) is str else None for v in values]
        if None in index:
            for i, value in enumerate(values):
                if index[i] is None:
                    try:
                        index[i] = self._new_subject(value)
                    except BadValue as exc:
                        bad.setdefault(i, exc)
                        index[i] = ABSENT
        return np.asarray(index, dtype=np.int32)

    def _new_subject(self, subject: Any) -> int:
        if subject is None:
            raise BadValue("subject", "no subject")
        if type(subject) is not str:
            raise BadValue("subject", f"subject must be a string, got {subject!r}")
        if subject in self.subject_of:
            return self.subject_of[subject]
        try:
            validate_subject(subject)
        except InvalidSubject as exc:
            raise BadValue("subject", str(exc)) from None
        self.subject_category.append(self.position[self.categories.category_of(subject).value])
        index = self.subject_of[subject] = len(self.subject_of)
        return index

    def _sizes(self, sizes: list[Any], payloads: list[bytes | None], bad: Bad) -> npt.NDArray[Any]:
        whole = _whole_numbers(sizes)
        if (
            whole is not None
            and self.payloads is None
            and payloads.count(None) == len(payloads)
            and bool(((whole >= 0) & (whole <= MAX_SIZE)).all())
        ):
            return whole
        out = np.zeros(len(sizes), dtype=np.int64)
        want_payloads = self.payloads is not None
        for i, (size, payload) in enumerate(zip(sizes, payloads, strict=True)):
            try:
                if size is None:
                    if payload is None:
                        raise BadValue("size", "neither size nor payload")
                    out[i] = len(payload)
                    continue
                n = size if type(size) is int and 0 <= size <= MAX_SIZE else None
                if n is None:
                    n = parse_int("size", size, low=0, high=MAX_SIZE)
                if payload is not None and n != len(payload):
                    raise BadValue("size", f"size {n} but the payload has {len(payload)} bytes")
                if want_payloads and payload is None:
                    raise BadValue("payload", "no payload (--with-payloads keeps every payload)")
                out[i] = n
            except BadValue as exc:
                bad.setdefault(i, exc)
        return out

    def _categories(
        self, values: list[Any], subjects: npt.NDArray[np.int32], bad: Bad
    ) -> npt.NDArray[np.int8]:
        by_subject = np.asarray([*self.subject_category, ABSENT], dtype=np.int8)
        # A bad subject is ABSENT (-1), which picks the appended ABSENT.
        out = by_subject[subjects]
        if values.count(None) == len(values):
            return out
        position = self.position
        for i, value in enumerate(values):
            if value is None:
                continue
            index = position.get(value) if type(value) is str else None
            if index is None:
                valid = ", ".join(position)
                error = BadValue("category", f"unknown category {value!r}; valid: {valid}")
                bad.setdefault(i, error)
            else:
                out[i] = index
        return out

    def _ints(
        self, name: str, values: list[Any], low: int, high: int, bad: Bad
    ) -> npt.NDArray[Any]:
        out = np.full(len(values), ABSENT, dtype=np.int64)
        if values.count(None) == len(values):
            return out
        whole = _whole_numbers(values)
        if whole is not None and bool(((whole >= low) & (whole <= high)).all()):
            return whole
        for i, value in enumerate(values):
            if value is not None:
                try:
                    out[i] = parse_int(name, value, low=low, high=high)
                except BadValue as exc:
                    bad.setdefault(i, exc)
        return out

    def _sources(self, values: list[Any], bad: Bad) -> npt.NDArray[np.int32]:
        out = np.full(len(values), ABSENT, dtype=np.int32)
        if values.count(None) == len(values):
            return out
        table = self.source_of
        if _all_strings(values):
            for value in dict.fromkeys(values):
                table.setdefault(value, len(table))
            return np.asarray([table[v] for v in values], dtype=np.int32)
        for i, value in enumerate(values):
            if value is None:
                continue
            if type(value) is str:
                out[i] = table.setdefault(value, len(table))
            else:
                bad.setdefault(i, BadValue("source", f"source must be a string, got {value!r}"))
        return out


def _whole_numbers(values: list[Any]) -> npt.NDArray[np.int64] | None:
    """``values`` as int64 when all are ints, or all ASCII digit strings; else None."""
    if not values:
        return np.empty(0, dtype=np.int64)
    if type(values[0]) is str:
        try:
            joined = "".join(values)
        except TypeError:
            return None
        if not (joined.isascii() and joined.isdigit()) or "" in values:
            return None
        try:
            return np.fromiter(map(int, values), dtype=np.int64, count=len(values))
        except OverflowError:
            return None
    if set(map(type, values)) == {int}:
        try:
            return np.asarray(values, dtype=np.int64)
        except OverflowError:
            return None
    return None


def _all_strings(values: list[Any]) -> bool:
    try:
        "".join(values)
    except TypeError:
        return False
    return True
