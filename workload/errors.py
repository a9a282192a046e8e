"""Exceptions of the workload package (the shared ones live in ``events.errors``)."""

from __future__ import annotations

from events.errors import SwitchyardError


class SimulatedFailure(SwitchyardError):
    """Raised by a simulated service's handler when its failure draw says so.

    It is an ordinary (retryable) failure, as a flaky dependency would cause.
    """


class ScheduleFileError(SwitchyardError):
    """Raised when a schedule file has an unknown extension or does not read back."""
