"""Reports from result files: one self-contained HTML page and a Markdown twin.

:func:`load_inputs` reads any mix of result files — comparisons (``compare
--json``), capacity searches (``capacity --json``) and memory profiles
(``memory --json``) — telling them apart by their ``schema`` field;
:func:`render_html` and :func:`render_markdown` turn them into documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from bench.analysis.history import History
from bench.experiments.at_capacity import AtCapacityResult
from bench.experiments.profiling import PROFILE_SCHEMA, ProfileResult, decode_profile
from bench.memory.profiles import MEMORY_SCHEMA, MemoryReport, decode_memory, memory_markdown
from bench.report import at_capacity, executive, summary
from bench.report import history as report_history
from bench.report import html as report_html
from bench.report.capacity import (
    CapacityView,
    capacity_markdown,
    capacity_section,
    is_capacity,
    view,
)
from bench.report.memory import memory_section
from bench.report.profile import profile_markdown, profile_section
from bench.schema import SCHEMA, CompareResult, SchemaError, decode_compare


class ReportError(SchemaError):
    """Raised when a file given to the report cannot be read or is of an unknown kind."""


@dataclass
class ReportInputs:
    """Everything one report shows, in the order given."""

    comparisons: list[CompareResult] = field(default_factory=list)
    capacities: list[CapacityView] = field(default_factory=list)
    memories: list[MemoryReport] = field(default_factory=list)
    #: Saved baselines of the compared workloads, each with a metric over its versions.
    histories: list[History] = field(default_factory=list)
    #: Profiles (``bench profile``), each with the folder its files are in.
    profiles: list[tuple[ProfileResult, Path]] = field(default_factory=list)
    at_capacities: list[AtCapacityResult] = field(default_factory=list)

    def add_histories(self, where: Path | None = None) -> None:
        """Add the history of every saved baseline of a compared workload, if any."""
        self.histories = report_history.matching(self.comparisons, where)

    def empty(self) -> bool:
        return not (
            self.comparisons
            or self.capacities
            or self.memories
            or self.profiles
            or self.at_capacities
        )


def _kind(data: bytes, where: str) -> tuple[str, dict[str, Any]]:
    try:
        raw = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise ReportError(f"{where}: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ReportError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    schema = raw.get("schema")
    # Capacity results share the bench schema version; their sizings tell them apart.
    if is_capacity(raw):
        return "capacity", raw
    if at_capacity.is_at_capacity(raw):
        return "at_capacity", raw
    if schema == SCHEMA and "settings" in raw:
        return "compare", raw
    if schema == SCHEMA and "spec" in raw:
        raise ReportError(
            f"{where}: a single run's result; report on a comparison (compare --json) instead"
        )
    if schema == MEMORY_SCHEMA:
        return "memory", raw
    if schema == PROFILE_SCHEMA:
        return "profile", raw
    raise ReportError(f"{where}: unknown result kind (schema {schema!r})")


def load_inputs(paths: Sequence[str | Path]) -> ReportInputs:
    """Read and validate every file; raise :class:`ReportError` naming the bad one."""
    inputs = ReportInputs()
    for path in map(Path, paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ReportError(f"{path}: cannot read: {exc.strerror}") from None
        kind, raw = _kind(data, str(path))
        if kind == "compare":
            inputs.comparisons.append(decode_compare(data, str(path)))
        elif kind == "memory":
            inputs.memories.append(decode_memory(data, str(path)))
        elif kind == "profile":
            inputs.profiles.append((decode_profile(data, str(path)), path.resolve().parent))
        elif kind == "at_capacity":
            inputs.at_capacities.append(at_capacity.decode(data, str(path)))
        else:
            inputs.capacities.append(view(raw, str(path)))
    if inputs.empty():
        raise ReportError("no result files given")
    return inputs


def summary_paragraphs(inputs: ReportInputs) -> list[str]:
    """The report's executive summary (see :mod:`bench.report.executive`)."""
    return executive.report_paragraphs(
        inputs.comparisons,
        [(c.sizings, c.slo_text) for c in inputs.capacities],
        [m.profiles for m in inputs.memories],
    )


def render_html(
    inputs: ReportInputs, title: str, generated_by: str, base: Path | None = None
) -> str:
    """The whole report as one HTML document, its executive summary first; links to
    files (flame graphs) are relative to ``base``, the folder the page is written to."""
    sections = [
        report_html.summary_block(summary_paragraphs(inputs)),
        report_html.environment_block(inputs.comparisons),
    ]
    if len(inputs.comparisons) > 1:
        links = "".join(
            f'<li><a href="#compare-{i}">{c.settings.pattern} / {c.settings.profile}</a></li>'
            for i, c in enumerate(inputs.comparisons)
        )
        sections.append(f"<h2>Contents</h2><ul>{links}</ul>")
    sections += [report_html.comparison_section(c, i) for i, c in enumerate(inputs.comparisons)]
    sections += [capacity_section(c) for c in inputs.capacities]
    sections += [at_capacity.section(a) for a in inputs.at_capacities]
    sections += [memory_section(m) for m in inputs.memories]
    sections.append(report_history.section(inputs.histories))
    sections += [profile_section(p, folder, base) for p, folder in inputs.profiles]
    return report_html.page(title, sections, generated_by)


def render_markdown(inputs: ReportInputs, title: str) -> str:
    """The report's tables as Markdown (the figures live in the HTML), its summary first."""
    parts = [f"# {title}", "", "## Executive summary", ""]
    for paragraph in summary_paragraphs(inputs):
        parts += [paragraph, ""]
    for result in inputs.comparisons:
        # The comparison's own headings sit one level below this report's.
        body = summary.markdown(result, with_summary=False).split("\n", 1)[1]
        body = body.replace("\n## ", "\n### ")
        parts += [f"## Comparison: {result.settings.pattern} / {result.settings.profile}", body]
    for cap in inputs.capacities:
        parts += [capacity_markdown(cap), ""]
    for equal in inputs.at_capacities:
        parts += [at_capacity.markdown(equal, depth=2), ""]
    for mem in inputs.memories:
        parts += [memory_markdown(mem), ""]
    if inputs.histories:
        parts += [report_history.markdown(inputs.histories)]
    for profile, folder in inputs.profiles:
        parts += [profile_markdown(profile, folder), ""]
    return "\n".join(parts)


def write(
    inputs: ReportInputs,
    html_path: Path | None,
    markdown_path: Path | None,
    title: str,
    generated_by: str,
) -> None:
    """Write whichever documents were asked for; raise :class:`ReportError` if one cannot be."""
    for path in (html_path, markdown_path):
        # Before the (costly) rendering: a missing folder fails fast.
        if path is not None and not path.parent.is_dir():
            raise ReportError(f"{path}: cannot write: folder {path.parent} does not exist")
    documents = []
    if html_path is not None:
        html = render_html(inputs, title, generated_by, html_path.resolve().parent)
        documents.append((html_path, html))
    if markdown_path is not None:
        documents.append((markdown_path, render_markdown(inputs, title)))
    for path, text in documents:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"{path}: cannot write: {exc.strerror}") from None


def write_comparison_html(result: CompareResult, path: Path, command: str) -> None:
    """The report of one comparison (the hook behind ``compare --html PATH``), with the
    history of any saved baseline of the same workload."""
    inputs = ReportInputs(comparisons=[result])
    inputs.add_histories()
    title = f"Switchyard comparison: {result.settings.pattern} / {result.settings.profile}"
    write(inputs, path, None, title, command)
