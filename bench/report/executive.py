"""The executive summary: a few sentences generated from a comparison's verdicts, nothing else.

Every claim is a verdict restated: a metric is called better or worse only when its
verdict is (its whole 95% CI beyond the noise band), with the ratio and the interval;
equivalent only when its CI lies inside the band; everything else is named as
undetermined with the reason the verdict gave. The recommendation is chosen by rule
from those sets (see :func:`recommendation`): one side better on something and worse on
nothing (and none of throughput, p50 and p99 left undetermined, else no recommendation
yet); a trade-off when both; no difference when all is equivalent; no conclusion
otherwise. Broken accounting voids it all, and a broken objective is said first.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.experiments.capacity_step import Sizing
from bench.memory.profiles import MemoryProfile
from bench.schema import CompareResult, Ratio

#: How a metric reads in a sentence.
LABELS = {
    "throughput": "throughput",
    "payload": "payload throughput",
    "response_p50": "median response latency",
    "response_p95": "p95 response latency",
    "response_p99": "p99 response latency",
    "response_p99.9": "p99.9 response latency",
    "service_p99": "p99 service time",
    "dispatch_lag_p99": "p99 dispatch lag",
    "recovery": "recovery time",
    "peak_rss": "peak memory",
    "idle_rss": "idle memory",
    "startup": "start-up time",
    "cpu": "CPU time",
    "reject_rate": "reject rate",
    "failure_rate": "delivery failure rate",
}


def label(metric: str) -> str:
    return LABELS.get(metric, metric)


def _ratio(r: Ratio) -> str:
    assert r.ratio is not None and r.low is not None and r.high is not None
    return f"{label(r.metric)} at {r.ratio:.2f}x {r.baseline}'s (95% CI {r.low:.2f}-{r.high:.2f})"


def _count(n: int, word: str, plural: str = "") -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


def _names(ratios: Sequence[Ratio]) -> str:
    names = [label(r.metric) for r in ratios]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


#: Beyond this many runs per architecture, "more runs would settle it" is no advice.
SETTLE_MAX = 50


def _undetermined(ratios: Sequence[Ratio]) -> str:
    """The undetermined metrics grouped by why: too few usable runs, settled by a few more
    runs (how many), or intervals too wide for more runs to help soon."""
    few = [r for r in ratios if r.ratio is None]
    near = sorted(
        (r for r in ratios if r.ratio is not None and 0 < (r.runs_needed or 0) <= SETTLE_MAX),
        key=lambda r: r.runs_needed or 0,
    )
    far = [r for r in ratios if r not in few and r not in near]
    parts = []
    if few:
        parts.append(f"{_names(few)} (no ratio: too few usable runs or zero values)")
    if near:
        settle = [
            f"{label(r.metric)} (about {r.runs_needed} runs each would settle it)" for r in near
        ]
        parts.append("; ".join(settle))
    if far:
        parts.append(
            f"{_names(far)} (intervals too wide to settle with fewer than {SETTLE_MAX} runs each)"
        )
    return "; ".join(parts)


#: Metrics no recommendation is made without: while one is undetermined, none is.
HEADLINE = ("throughput", "response_p50", "response_p99")


def recommendation(
    arch: str, baseline: str, better: Sequence[Ratio], worse: Sequence[Ratio],
    equivalent: Sequence[Ratio], undetermined: Sequence[Ratio], noise: float,
) -> str:  # fmt: skip
    """The one recommendation the verdict sets support (see the module docstring)."""
    open_ = f"; {_count(len(undetermined), 'metric')} undetermined" if undetermined else ""
    pending = [r for r in undetermined if r.metric in HEADLINE]
    if (better or worse) and not (better and worse) and pending:
        side = f"better on {_names(better)}" if better else f"worse on {_names(worse)}"
        return (
            f"No recommendation yet: {arch} is {side} and on no metric the other way, but"
            f" {_names(pending)} {'is' if len(pending) == 1 else 'are'} undetermined;"
            f" settle {'it' if len(pending) == 1 else 'them'} (more runs) before choosing."
        )
    if better and not worse:
        return (
            f"Recommendation: {arch} on the strength of its {_names(better)}, with no metric"
            f" measured worse{open_}; this holds for this workload and host only."
        )
    if worse and not better:
        return (
            f"Recommendation: keep {baseline}: {arch} is worse on {_names(worse)} and better"
            f" on nothing measured{open_}."
        )
    if better and worse:
        return (
            f"No overall recommendation: a trade-off. {arch} is better on {_names(better)}"
            f" but worse on {_names(worse)}; the choice rests on which matters more here."
        )
    if equivalent and not undetermined:
        return (
            f"No difference beyond ±{noise * 100:g}% on any metric: either architecture"
            " serves this workload alike on what was measured; decide on other grounds."
        )
    return (
        f"No conclusion yet: no difference is established ({len(equivalent)} equivalent,"
        f" {len(undetermined)} undetermined); more runs are needed before deciding."
    )


def paragraphs(result: CompareResult) -> list[str]:
    """The summary of one comparison, a sentence or a few per paragraph."""
    s = result.settings
    out = [
        f"{' vs '.join(s.archs)} under profile {s.profile}, pattern {s.pattern}"
        + (f" with outages {', '.join(o.label for o in s.outages)}" if s.outages else "")
        + f": {s.runs} runs each of {s.duration_s:g} s; ratios are against {s.archs[0]} with"
        f" 95% intervals, noise band ±{s.noise * 100:g}%."
    ]
    voided = [
        rec
        for rec in result.runs
        if any(not g.passed and g.scope == "all" for g in rec.result.gates)
    ]
    if voided:
        out.append(
            f"Not trustworthy: {len(voided)} of {len(result.runs)} runs failed accounting"
            " (events unaccounted for or counts disagreeing); no figure here should be acted"
            " on, and no recommendation is made, until that is fixed."
        )
        return out
    behind = [rec for rec in result.runs if not rec.result.valid]
    if behind:
        out.append(
            f"{len(behind)} of {len(result.runs)} runs fell behind their schedule (the"
            " generator), so throughput rests on the others and says nothing about capacity."
        )
    if result.slo is not None:
        failed = [v for v in result.slo.violations if v.level == "fail"]
        warned = [v for v in result.slo.violations if v.level == "warn"]
        if failed:
            archs = sorted({v.arch for v in failed})
            out.append(
                f"Objectives broken at the fail level by {', '.join(archs)}"
                f" ({_count(len(failed), 'breach', 'breaches')}, e.g. {failed[0].detail})."
            )
        elif warned:
            out.append(f"Every fail-level objective held; {_count(len(warned), 'warning')} raised.")
        else:
            out.append("Every objective held in every run.")
    for arch in s.archs[1:]:
        ratios = [r for r in result.ratios if r.arch == arch]
        better = [r for r in ratios if r.verdict == "better"]
        worse = [r for r in ratios if r.verdict == "worse"]
        equivalent = [r for r in ratios if r.verdict == "equivalent"]
        undetermined = [r for r in ratios if r.verdict == "inconclusive"]
        parts = [f"{arch} against {s.archs[0]}:"]
        if better:
            parts.append("Better on " + "; ".join(_ratio(r) for r in better) + ".")
        if worse:
            parts.append("Worse on " + "; ".join(_ratio(r) for r in worse) + ".")
        if equivalent:
            parts.append(f"Equivalent within ±{s.noise * 100:g}%: {_names(equivalent)}.")
        if undetermined:
            parts.append(f"Undetermined: {_undetermined(undetermined)}.")
        out.append(" ".join(parts))
        advice = recommendation(arch, s.archs[0], better, worse, equivalent, undetermined, s.noise)
        broke = result.slo is not None and any(
            v.level == "fail" and v.arch == arch for v in result.slo.violations
        )
        if broke and better and not worse:
            advice += f" Note that {arch} broke fail-level objectives (above)."
        out.append(advice)
    return out


def memory_lines(profiles: Sequence[MemoryProfile]) -> list[str]:
    """One sentence per memory profile: its leak verdict as ``bench memory`` gave it."""
    return [
        f"Memory, {p.arch} ({p.profile}/{p.pattern}): {p.verdict.explanation}." for p in profiles
    ]


def report_paragraphs(
    comparisons: Sequence[CompareResult],
    capacities: Sequence[tuple[Sequence[Sizing], str]] = (),
    memories: Sequence[Sequence[MemoryProfile]] = (),
) -> list[str]:
    """The summary of a whole report: each comparison's paragraphs under its workload, then
    each capacity claim and leak verdict."""
    out: list[str] = []
    for result in comparisons:
        s = result.settings
        body = paragraphs(result)
        out.append(f"{s.pattern} / {s.profile}: {body[0]}")
        out += body[1:]
    for sizings, slo_text in capacities:
        out += capacity_lines(sizings, slo_text)
    for profiles in memories:
        out += memory_lines(profiles)
    return out


def capacity_lines(sizings: Sequence[Sizing], slo_text: str) -> list[str]:
    """One sentence per architecture's capacity search: the claim with its bracket, or none."""
    out = []
    for s in sizings:
        o = s.outcome
        if o.capacity is None:
            out.append(
                f"Capacity under {slo_text}, {s.arch}: no claim ({o.limited_by});"
                " see the capacity section."
            )
        else:
            low = "n/a" if o.low is None else f"{o.low:,.0f}"
            high = "n/a" if o.high is None else f"{o.high:,.0f}"
            out.append(
                f"Capacity under {slo_text}, {s.arch}: {o.capacity:,.0f} events/s"
                f" (bracket {low} to {high})."
            )
    return out
