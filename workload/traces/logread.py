"""Reading a log in chunks: JSON lines or CSV into per-field value lists, with line numbers.

A chunk holds, for each field of ``fields.FIELDS``, one value per good line
(None where the line lacks the field), the line numbers of those lines, and
the lines that broke before any field could be read (not JSON, a CSV row of
the wrong width). Without ``--map``, a JSON line is decoded straight into the
known fields (other keys are skipped unread). Floats are decoded as Decimal,
so a timestamp keeps every digit written and a payload's numbers re-encode as
they were written.
"""

from __future__ import annotations

import csv
import itertools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from workload.errors import TraceImportError
from workload.traces.fields import FIELDS, BadValue, FieldPath, extract

CHUNK = 16_384


@dataclass
class Chunk:
    """Up to :data:`CHUNK` lines: values per field for the readable ones, and the broken ones."""

    numbers: list[int] = field(default_factory=list)
    values: list[list[Any]] = field(default_factory=list)
    broken: list[tuple[int, BadValue]] = field(default_factory=list)


class _LogLine(msgspec.Struct):
    """The fields of a log line read without ``--map``; the order is ``FIELDS``."""

    ts: Any = None
    subject: Any = None
    size: Any = None
    payload: msgspec.Raw = msgspec.field(default_factory=msgspec.Raw)
    source: Any = None
    priority: Any = None
    category: Any = None
    headers_size: Any = None


#: Writes Decimal numbers back as the numbers they were.
_NUMBERS_AS_WRITTEN = msgspec.json.Encoder(decimal_format="number")


def raw_payload(raw: msgspec.Raw) -> bytes | None:
    """A payload's bytes: a string's UTF-8, any other JSON value compacted (numbers kept)."""
    data = bytes(raw)
    if not data or data == b"null":
        return None
    if data[:1] == b'"':
        text: str = msgspec.json.decode(data)
        return text.encode()
    return msgspec.json.format(data, indent=-1)


def encode_payload(value: Any) -> bytes | None:
    """The same bytes as :func:`raw_payload`, from a decoded value (or CSV text)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value.encode()
    return _NUMBERS_AS_WRITTEN.encode(value)


def _json_reason(exc: Exception) -> BadValue:
    text = str(exc)
    if text.startswith("Expected `object`"):
        return BadValue("json", f"not a JSON object: {text}")
    return BadValue("json", f"not JSON: {text}")


def json_chunks(lines: Iterable[bytes], mapping: dict[str, FieldPath]) -> Iterator[Chunk]:
    """Chunks of a JSON-lines log; blank lines are skipped."""
    decode = (
        msgspec.json.Decoder(float_hook=Decimal).decode
        if mapping
        else msgspec.json.Decoder(_LogLine, float_hook=Decimal).decode
    )
    first = 1
    lines = iter(lines)
    while batch := list(itertools.islice(lines, CHUNK)):
        chunk = Chunk()
        try:
            # The common case: every line decodes; else line by line, to name the bad ones.
            records: list[Any] = [decode(line) for line in batch]
            chunk.numbers = list(range(first, first + len(batch)))
        except (msgspec.DecodeError, msgspec.ValidationError):
            records = []
            for number, line in enumerate(batch, start=first):
                try:
                    record = decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    if line.strip():
                        chunk.broken.append((number, _json_reason(exc)))
                    continue
                chunk.numbers.append(number)
                records.append(record)
        first += len(batch)
        if mapping:
            _mapped(chunk, records, mapping)
        else:
            columns = zip(*map(operator.attrgetter(*FIELDS), records), strict=True)
            chunk.values = [list(column) for column in columns] or [[] for _ in FIELDS]
            chunk.values[_PAYLOAD] = [raw_payload(raw) for raw in chunk.values[_PAYLOAD]]
        yield chunk


_PAYLOAD = FIELDS.index("payload")


def _mapped(chunk: Chunk, records: list[Any], mapping: dict[str, FieldPath]) -> None:
    objects = []
    numbers = []
    for number, record in zip(chunk.numbers, records, strict=True):
        if isinstance(record, dict):
            objects.append(record)
            numbers.append(number)
        else:
            shown = msgspec.json.encode(record)[:60].decode(errors="replace")
            chunk.broken.append((number, BadValue("json", f"not a JSON object: {shown}")))
    chunk.numbers = numbers
    paths = [mapping.get(f, (f,)) for f in FIELDS]
    chunk.values = [[extract(obj, path) for obj in objects] for path in paths]
    chunk.values[_PAYLOAD] = [encode_payload(v) for v in chunk.values[_PAYLOAD]]
    chunk.broken.sort(key=lambda item: item[0])


def csv_columns(src: Path, head: list[str], mapping: dict[str, FieldPath]) -> list[int | None]:
    """The column of each field (None when absent); refuses a header lacking what is needed."""
    column = {name.strip(): i for i, name in enumerate(head)}
    wanted: list[int | None] = []
    for f in FIELDS:
        name = ".".join(str(step) for step in mapping.get(f, (f,)))
        if f in mapping and name not in column:
            raise TraceImportError(f"{src}:1: --map names column {name!r}, not in the header")
        wanted.append(column.get(name))
    ts, subject, size, payload = wanted[:4]
    missing = [f for f, i in (("ts", ts), ("subject", subject)) if i is None]
    if size is None and payload is None:
        missing.append("size or payload")
    if missing:
        have = ", ".join(column) or "none"
        raise TraceImportError(
            f"{src}:1: the CSV header lacks {', '.join(missing)} (it has {have};"
            " rename with --map COLUMN=FIELD)"
        )
    return wanted


def _line_numbers(rows: list[list[str]], after: int, end: int) -> list[int]:
    """The line each row ends on, the first starting after line ``after``."""
    if end - after == len(rows):
        return list(range(after + 1, end + 1))
    # Some quoted cell spans lines: count the line breaks inside cells.
    numbers = []
    line = after
    for row in rows:
        line += 1 + sum(cell.count("\n") for cell in row)
        numbers.append(line)
    return numbers


def csv_chunks(src: Path, lines: Iterable[str], mapping: dict[str, FieldPath]) -> Iterator[Chunk]:
    """Chunks of a CSV log with a header row; empty cells are absent fields."""
    reader = csv.reader(lines)
    try:
        head = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise TraceImportError(f"{src}:1: bad CSV header: {exc}") from None
    columns = csv_columns(src, head, mapping)
    width = len(head)
    while True:
        chunk = Chunk()
        after = reader.line_num
        batch: list[list[str]] = []
        try:
            # extend keeps the rows read before an error.
            batch.extend(itertools.islice(reader, CHUNK))
        except csv.Error as exc:
            chunk.broken.append((reader.line_num, BadValue("csv", f"bad CSV: {exc}")))
        if not batch and not chunk.broken:
            return
        end = reader.line_num if not chunk.broken else chunk.broken[0][0] - 1
        numbers = _line_numbers(batch, after, end)
        if all(len(row) == width for row in batch):
            rows, chunk.numbers = batch, numbers
        else:
            rows = []
            for number, row in zip(numbers, batch, strict=True):
                if len(row) == width:
                    chunk.numbers.append(number)
                    rows.append(row)
                elif row and (len(row) > 1 or row[0].strip()):
                    reason = f"{len(row)} cells, the header has {width}"
                    chunk.broken.append((number, BadValue("csv", reason)))
            chunk.broken.sort(key=lambda item: item[0])
        cells = list(zip(*rows, strict=True)) if rows else [()] * width
        chunk.values = [
            [None] * len(rows) if i is None else [v or None for v in cells[i]] for i in columns
        ]
        chunk.values[_PAYLOAD] = [encode_payload(v) for v in chunk.values[_PAYLOAD]]
        yield chunk


LogFormat = Literal["auto", "jsonl", "csv"]


def detect_format(path: Path, first_line: str) -> Literal["jsonl", "csv"]:
    """By extension (``.csv``, ``.jsonl``/``.ndjson``/``.json``), else by the first character."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last == ".csv":
        return "csv"
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "jsonl" if first_line.lstrip().startswith("{") else "csv"
