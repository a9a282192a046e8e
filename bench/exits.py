"""The exit codes of every ``python -m bench`` command, in one place.

A command returns the first that applies, in this order of precedence.
"""

from __future__ import annotations

#: Done; every verdict asked for was reached and nothing failed.
EXIT_OK = 0
#: A measurement worker crashed or hung: no result to judge.
EXIT_WORKER = 1
#: Usage or configuration error (one line on stderr, no traceback).
EXIT_USAGE = 2
#: A run failed a validity gate that voids it (accounting, lost events).
EXIT_INVALID = 3
#: A confirmed regression against a saved baseline.
EXIT_REGRESSION = 4
#: An objective failed: an SLO of configs/slo.toml broken, capacity below --peak, or a leak.
EXIT_SLO = 5
#: No verdict possible: the search could not settle (e.g. the generator was the limit).
EXIT_UNDETERMINED = 6
