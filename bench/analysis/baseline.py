"""Saved baselines and regression verdicts against them.

A baseline is a whole comparison (``compare --json``) saved under a name in
``baselines/NAME.json`` under the working directory (or ``$SWITCHYARD_BASELINES_DIR``),
wrapped in a versioned record with the environment fingerprint it ran on.

:func:`compare_to_baseline` judges each metric of each architecture against
the same architecture in the baseline: the ratio current/baseline with its 95%
CI and verdict (:func:`bench.analysis.compare.compare_metric`, which uses
:func:`bench.analysis.stats.ratio_ci` and :func:`bench.analysis.stats.verdict`), at the
current comparison's noise band. A **regression** is a ``worse`` verdict: the
whole CI lies beyond the noise band on the bad side.

Environment policy — refuse, by default: when the fingerprint (CPU model, CPU
count, Python version and implementation, uvloop version, event loop) differs,
the numbers measure the machine as much as the code, so a "regression" would
be noise dressed as a verdict; :class:`BaselineMismatch` (exit 2) names each
difference. ``allow_mismatch=True`` judges anyway and returns the differences
as warnings. A different git sha is the point of a baseline and never matters.
A different profile or pattern is always refused (another workload); other
settings (duration, seed, runs, config or schedule hash) only warn.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import msgspec

from bench.analysis.compare import compare_metric, metrics_for, values_of
from bench.schema import SCHEMA, CompareResult, Environment, Ratio, RunResult
from events.errors import SwitchyardError

BASELINE_SCHEMA = "switchyard.baseline/1"
#: Relative to the working directory: an installed package has no project root to write into.
DEFAULT_DIR = Path("baselines")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class BaselineError(SwitchyardError):
    """Raised when a baseline cannot be saved, found or read."""


class BaselineMismatch(BaselineError):
    """Raised when the current environment or workload differs from the baseline's."""


class Fingerprint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What must match for two measurements to be comparable."""

    cpu_model: str
    cpu_count: int
    python: str
    implementation: str
    uvloop: str
    loop: str


class Baseline(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A saved comparison, its name, when it was saved and its fingerprint."""

    schema: str
    name: str
    saved_at: str
    fingerprint: Fingerprint
    git_sha: str | None
    comparison: CompareResult


def fingerprint(env: Environment) -> Fingerprint:
    return Fingerprint(env.cpu_model, env.cpu_count, env.python, env.implementation,
                       env.uvloop, env.loop)  # fmt: skip


def fingerprint_differences(saved: Fingerprint, current: Fingerprint) -> list[str]:
    """One phrase per differing field, e.g. ``cpu_count 2 (baseline) != 4 (now)``."""
    out = []
    for field in saved.__struct_fields__:
        a, b = getattr(saved, field), getattr(current, field)
        if a != b:
            out.append(f"{field} {a!r} (baseline) != {b!r} (now)")
    return out


def directory(override: Path | None = None) -> Path:
    if override is not None:
        return override
    env = os.environ.get("SWITCHYARD_BASELINES_DIR")
    return Path(env) if env else DEFAULT_DIR


def path_of(name: str, where: Path | None = None) -> Path:
    if not _NAME.match(name):
        raise BaselineError(
            f"invalid baseline name {name!r}: use letters, digits, '_', '.', '-' (at most 64)"
        )
    return directory(where) / f"{name}.json"


def _trustworthy(result: CompareResult) -> None:
    broken = [
        f"{rec.arch} run {rec.block + 1}.{rec.position + 1}"
        for rec in result.runs
        if any(not g.passed and g.scope == "all" for g in rec.result.gates)
    ]
    if broken:
        raise BaselineError(
            "refusing to save a baseline with untrustworthy runs (accounting gates failed): "
            + ", ".join(broken)
        )


def save(name: str, result: CompareResult, where: Path | None = None) -> Path:
    """Write ``result`` as baseline ``name`` (replacing any of that name); return its path."""
    _trustworthy(result)
    path = path_of(name, where)
    record = Baseline(
        schema=BASELINE_SCHEMA,
        name=name,
        saved_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        fingerprint=fingerprint(result.environment),
        git_sha=result.environment.git_sha,
        comparison=result,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(msgspec.json.encode(record))
    tmp.replace(path)
    return path


def load(name: str, where: Path | None = None) -> Baseline:
    """Read baseline ``name``; raise :class:`BaselineError` saying why not."""
    path = path_of(name, where)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        known = ", ".join(names(where)) or "none saved"
        raise BaselineError(f"no baseline {name!r} in {path.parent} (known: {known})") from None
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        record = msgspec.json.decode(data, type=Baseline)
    except msgspec.DecodeError as exc:
        raise BaselineError(f"{path}: {exc}") from None
    if record.schema != BASELINE_SCHEMA:
        raise BaselineError(f"{path}: schema {record.schema!r} is not {BASELINE_SCHEMA!r}")
    versions = {record.comparison.schema, *(r.result.schema for r in record.comparison.runs)}
    if versions != {SCHEMA}:
        raise BaselineError(f"{path}: result schema {sorted(versions)} is not {SCHEMA!r}")
    return record


def names(where: Path | None = None) -> list[str]:
    folder = directory(where)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def _runs(result: CompareResult) -> dict[str, list[RunResult]]:
    out: dict[str, list[RunResult]] = {}
    for record in result.runs:
        out.setdefault(record.arch, []).append(record.result)
    return out


def _setting_warnings(saved: CompareResult, now: CompareResult) -> list[str]:
    a, b = saved.settings, now.settings
    if (a.profile, a.pattern) != (b.profile, b.pattern):
        raise BaselineMismatch(
            f"the baseline measured profile {a.profile!r} pattern {a.pattern!r}, this run"
            f" {b.profile!r} {b.pattern!r}: another workload cannot be judged against it"
        )
    warnings = []
    for label, x, y in (
        ("duration_s", a.duration_s, b.duration_s),
        ("seed", a.seed, b.seed),
        ("runs", a.runs, b.runs),
        ("config hash", saved.environment.config_hash, now.environment.config_hash),
        ("schedule hash", saved.environment.schedule_hash, now.environment.schedule_hash),
    ):
        if x != y:
            warnings.append(f"{label} differs: {x!r} (baseline) != {y!r} (now)")
    return warnings


def compare_to_baseline(
    results: CompareResult,
    name: str,
    *,
    where: Path | None = None,
    allow_mismatch: bool = False,
) -> tuple[tuple[Ratio, ...], bool, list[str]]:
    """(verdicts, regression, warnings) of ``results`` against baseline ``name``.

    Each :class:`Ratio` has ``baseline`` = ``ARCH@NAME`` and ``arch`` = ``ARCH``;
    ``regression`` is True when any verdict is ``worse``. Raises
    :class:`BaselineMismatch` on a differing workload, or fingerprint unless
    ``allow_mismatch``.
    """
    record = load(name, where)
    saved = record.comparison
    warnings = _setting_warnings(saved, results)
    diffs = fingerprint_differences(record.fingerprint, fingerprint(results.environment))
    if diffs and not allow_mismatch:
        raise BaselineMismatch(
            f"baseline {name!r} was measured on another environment: " + "; ".join(diffs)
        )
    warnings += [f"environment differs: {d}" for d in diffs]
    before, now = _runs(saved), _runs(results)
    verdicts: list[Ratio] = []
    for arch, current in now.items():
        if arch not in before:
            warnings.append(f"{arch} is not in baseline {name!r} (it has {', '.join(before)})")
            continue
        for index, metric in enumerate(metrics_for([*before[arch], *current])):
            verdicts.append(
                compare_metric(
                    metric,
                    f"{arch}@{name}",
                    arch,
                    values_of(metric, before[arch]),
                    values_of(metric, current),
                    results.settings.noise,
                    results.settings.seed + index,
                )
            )
    regression = any(v.verdict == "worse" for v in verdicts)
    return tuple(verdicts), regression, warnings


def regressions(verdicts: tuple[Ratio, ...]) -> list[str]:
    """One sentence per regressed metric."""
    return [f"{v.arch} {v.metric}: {v.explanation}" for v in verdicts if v.verdict == "worse"]
