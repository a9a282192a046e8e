"""Traces: the user's own traffic, imported or recorded, read, transformed and replayed."""

from __future__ import annotations

from workload.traces.format import FORMAT, PhaseMark, TraceEvent, TraceHeader
from workload.traces.importer import ImportOptions, ImportReport, import_log
from workload.traces.options import add_replay_options, transform_from
from workload.traces.reader import read_header, read_trace
from workload.traces.replay import event_categories, trace_schedule
from workload.traces.trace import Trace
from workload.traces.transforms import Transform, parse_window
from workload.traces.writer import TraceWriter, write_trace

__all__ = [
    "FORMAT",
    "ImportOptions",
    "ImportReport",
    "PhaseMark",
    "Trace",
    "TraceEvent",
    "TraceHeader",
    "TraceWriter",
    "Transform",
    "add_replay_options",
    "event_categories",
    "import_log",
    "parse_window",
    "read_header",
    "read_trace",
    "trace_schedule",
    "transform_from",
    "write_trace",
]
