"""Exceptions of the workload package (the shared ones live in ``events.errors``)."""

from __future__ import annotations

from events.errors import SwitchyardError


class SimulatedFailure(SwitchyardError):
    """Raised by a simulated service's handler when its failure draw says so.

    It is an ordinary (retryable) failure, as a flaky dependency would cause.
    """


class ScheduleFileError(SwitchyardError):
    """Raised when a schedule file has an unknown extension or does not read back."""


class TraceFormatError(SwitchyardError):
    """Raised when a trace file breaks its format (docs/traces.md), or cannot be written.

    The message names the file and, for a bad event line, its line number.
    """


class TraceImportError(SwitchyardError):
    """Raised when ``trace import`` meets a log line it cannot turn into an event.

    The message names the source file, the line and the reason; raised at the
    first bad line unless bad lines are skipped, and when nothing valid remains.
    """
