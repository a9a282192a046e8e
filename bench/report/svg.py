"""Hand-written SVG charts for the HTML report: axes, lines, steps, areas, markers.

No plotting library is fetched or imported: the report must open offline and
show the same figures anywhere. An axis is ``linear``, ``log`` (decades) or
``nines`` (percentiles on ``-log10(1 - p)``, so 90%, 99%, 99.9% are evenly
spaced, as HdrHistogram's percentile plots are). Non-finite points and points
a log axis cannot show are left out rather than drawn at a wrong place.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Literal

AxisKind = Literal["linear", "log", "nines"]
SeriesKind = Literal["line", "step", "area", "points", "rings"]

#: Colour-blind-safe palette (Okabe-Ito); architectures take colours in order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
BACKDROP = "#d9d9d9"


def _nice_step(span: float, target: int) -> float:
    raw = span / max(1, target)
    mag = float(10.0 ** math.floor(math.log10(raw)))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= mult * mag:
            return mult * mag
    return 10 * mag


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 10_000:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


@dataclass
class Axis:
    """One axis: its kind, range and label; ``lo``/``hi`` are data units (nines: fractions)."""

    label: str
    kind: AxisKind = "linear"
    lo: float = 0.0
    hi: float = 1.0

    def __post_init__(self) -> None:
        self._guard()

    def _guard(self) -> None:
        """A log axis never fitted to data (nothing to show) keeps a range it can draw."""
        if self.kind == "log" and not 0 < self.lo < self.hi:
            self.lo, self.hi = 1.0, 10.0

    def transform(self, v: float) -> float:
        if self.kind == "log":
            return float(math.log10(v))
        if self.kind == "nines":
            return float(-math.log10(1.0 - v))
        return v

    def shows(self, v: float) -> bool:
        if not math.isfinite(v):
            return False
        if self.kind == "log":
            return v > 0
        if self.kind == "nines":
            return 0 <= v < 1
        return True

    def fraction(self, v: float) -> float:
        """Where ``v`` falls between the axis ends, 0 to 1."""
        a, b = self.transform(self.lo), self.transform(self.hi)
        return 0.5 if b == a else (self.transform(v) - a) / (b - a)

    def ticks(self) -> list[tuple[float, str]]:
        if self.kind == "nines":
            out = [(0.0, "0%")]
            n = 1
            while 1 - 10.0**-n <= self.hi + 1e-12:
                p = 1 - 10.0**-n
                out.append((p, f"{p * 100:.{max(0, n - 2)}f}%"))
                n += 1
            return out
        if self.kind == "log":
            first = math.floor(math.log10(self.lo))
            last = math.ceil(math.log10(self.hi))
            mults = (1, 2, 5) if last - first <= 3 else (1,)
            return [
                (m * 10.0**e, _fmt(m * 10.0**e))
                for e in range(first, last + 1)
                for m in mults
                if self.lo <= m * 10.0**e <= self.hi
            ]
        step = _nice_step(self.hi - self.lo, 6)
        start = math.ceil(self.lo / step) * step
        count = int((self.hi - start) / step + 1e-9) + 1
        return [(start + i * step, _fmt(start + i * step)) for i in range(count)]

    def fit(self, values: Sequence[float], include_zero: bool = True, pad: float = 0.05) -> None:
        """Set the range to cover ``values`` (what this axis can show), with nice ends."""
        shown = [v for v in values if self.shows(v)]
        if not shown:
            self._guard()
            return
        lo, hi = min(shown), max(shown)
        if self.kind == "log":
            self.lo = 10.0 ** math.floor(math.log10(lo))
            self.hi = 10.0 ** math.ceil(math.log10(hi) + 1e-9)
            if self.hi <= self.lo:
                self.hi = self.lo * 10
        elif self.kind == "nines":
            n = max(2, math.ceil(-math.log10(max(1e-9, 1 - hi)) - 1e-9))
            self.lo, self.hi = 0.0, 1 - 10.0**-n
        else:
            lo = min(lo, 0.0) if include_zero else lo
            hi = hi + (hi - lo) * pad if hi > lo else hi + 1
            step = _nice_step(hi - lo, 6)
            self.lo, self.hi = math.floor(lo / step) * step, math.ceil(hi / step) * step


@dataclass
class Series:
    """One drawn series; ``on_y2`` draws it against the right-hand axis."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float]
    colour: str
    kind: SeriesKind = "line"
    dash: str = ""
    on_y2: bool = False
    width: float = 2.0


@dataclass
class Marker:
    """A reference line across the plot (``axis`` x: vertical, y: horizontal), labelled."""

    axis: Literal["x", "y"]
    value: float
    label: str
    colour: str = "#333333"
    dash: str = "6 4"


@dataclass
class Chart:
    """A titled plot with a legend; :meth:`svg` renders it as a standalone ``<svg>``."""

    title: str
    x: Axis
    y: Axis
    y2: Axis | None = None
    series: list[Series] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    width: int = 640
    height: int = 360
    note: str = ""

    left = 70
    right_margin = 20
    top = 36

    def _right(self) -> int:
        # A nines axis ends on a long label ("99.999%") that must not be clipped.
        extra = 60 if self.y2 is not None else 24 if self.x.kind == "nines" else 0
        return self.right_margin + extra

    def _legend_rows(self) -> list[list[tuple[Series, int]]]:
        """Legend entries (series, x offset) wrapped into rows that fit the width."""
        rows: list[list[tuple[Series, int]]] = [[]]
        seen: set[str] = set()
        x = 0
        room = self.width - self.left - 10
        for s in self.series:
            if not s.name or s.name in seen:
                continue
            seen.add(s.name)
            width = 30 + 7 * len(s.name)
            if x + width > room and rows[-1]:
                rows.append([])
                x = 0
            rows[-1].append((s, x))
            x += width
        return rows

    @property
    def bottom(self) -> int:
        return 38 + 15 * len(self._legend_rows())

    def _px(self, v: float) -> float:
        plot_w = self.width - self.left - self._right()
        return self.left + plot_w * self.x.fraction(v)

    def _py(self, v: float, axis: Axis) -> float:
        plot_h = self.height - self.top - self.bottom
        return self.top + plot_h * (1.0 - axis.fraction(v))

    def _points(self, s: Series) -> list[tuple[float, float]]:
        axis = self.y2 if s.on_y2 and self.y2 is not None else self.y
        pts = [
            (self._px(x), self._py(y, axis))
            for x, y in zip(s.xs, s.ys, strict=True)
            if self.x.shows(x) and axis.shows(y)
        ]
        return pts

    def _series_svg(self, s: Series) -> str:
        pts = self._points(s)
        if not pts:
            return ""
        if s.kind == "points":
            return "".join(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{s.colour}"/>' for x, y in pts
            )
        if s.kind == "rings":
            return "".join(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#fff" stroke="{s.colour}"'
                ' stroke-width="1.5"/>'
                for x, y in pts
            )
        if s.kind == "step":
            stepped: list[tuple[float, float]] = [pts[0]]
            for x, y in pts[1:]:
                stepped += [(x, stepped[-1][1]), (x, y)]
            pts = stepped
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        if s.kind == "area":
            axis = self.y2 if s.on_y2 and self.y2 is not None else self.y
            base = min(self._py(axis.lo, axis), self.height - self.bottom)
            poly = f"{pts[0][0]:.1f},{base:.1f} {path} {pts[-1][0]:.1f},{base:.1f}"
            return f'<polygon points="{poly}" fill="{s.colour}" fill-opacity="0.55" stroke="none"/>'
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        return (
            f'<polyline points="{path}" fill="none" stroke="{s.colour}"'
            f' stroke-width="{s.width}"{dash} stroke-linejoin="round"/>'
        )

    def _axes_svg(self) -> list[str]:
        w, h = self.width, self.height
        x0, x1 = self.left, w - self._right()
        y0, y1 = self.top, h - self.bottom
        out = [f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="#fff"'
               ' stroke="#888"/>']  # fmt: skip
        for v, text in self.x.ticks():
            px = self._px(v)
            out.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y1}" stroke="#eee"/>')
            out.append(
                f'<text x="{px:.1f}" y="{y1 + 16}" text-anchor="middle">{escape(text)}</text>'
            )
        for v, text in self.y.ticks():
            py = self._py(v, self.y)
            out.append(f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="#eee"/>')
            out.append(
                f'<text x="{x0 - 6}" y="{py + 4:.1f}" text-anchor="end">{escape(text)}</text>'
            )
        if self.y2 is not None:
            for v, text in self.y2.ticks():
                py = self._py(v, self.y2)
                out.append(f'<text x="{x1 + 6}" y="{py + 4:.1f}" fill="#777">{escape(text)}</text>')
            out.append(
                f'<text transform="translate({w - 8},{(y0 + y1) / 2:.0f}) rotate(90)"'
                f' text-anchor="middle" fill="#777">{escape(self.y2.label)}</text>'
            )
        out.append(
            f'<text x="{(x0 + x1) / 2:.0f}" y="{y1 + 31}" text-anchor="middle">'
            f"{escape(self.x.label)}</text>"
        )
        out.append(
            f'<text transform="translate(16,{(y0 + y1) / 2:.0f}) rotate(-90)"'
            f' text-anchor="middle">{escape(self.y.label)}</text>'
        )
        return out

    def _marker_svg(self, m: Marker) -> str:
        x0, x1 = self.left, self.width - self._right()
        y0, y1 = self.top, self.height - self.bottom
        axis = self.x if m.axis == "x" else self.y
        if not axis.shows(m.value) or not 0 <= axis.fraction(m.value) <= 1:
            return ""
        style = f'stroke="{m.colour}" stroke-width="1.5" stroke-dasharray="{m.dash}"'
        label = escape(m.label)
        if m.axis == "x":
            px = self._px(m.value)
            return (
                f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y1}" {style}/>'
                f'<text x="{px + 4:.1f}" y="{y0 + 14}" fill="{m.colour}">{label}</text>'
            )
        py = self._py(m.value, self.y)
        return (
            f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" {style}/>'
            f'<text x="{x1 - 4}" y="{py - 5:.1f}" text-anchor="end"'
            f' fill="{m.colour}">{label}</text>'
        )

    def _legend_svg(self) -> list[str]:
        out = []
        rows = self._legend_rows()
        for r, row in enumerate(rows):
            y = self.height - 4 - 15 * (len(rows) - 1 - r)
            for s, offset in row:
                x = self.left + offset
                dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
                width = 10 if s.kind == "area" else 2.5
                if s.kind in ("points", "rings"):
                    fill = s.colour if s.kind == "points" else "#fff"
                    mark = (
                        f'<circle cx="{x + 9}" cy="{y - 4}" r="4" fill="{fill}"'
                        f' stroke="{s.colour}" stroke-width="1.5"/>'
                    )
                else:
                    mark = (
                        f'<line x1="{x}" y1="{y - 4}" x2="{x + 18}" y2="{y - 4}"'
                        f' stroke="{s.colour}" stroke-width="{width}"{dash}/>'
                    )
                out.append(f'{mark}<text x="{x + 22}" y="{y}">{escape(s.name)}</text>')
        return out

    def svg(self) -> str:
        """The chart as one ``<svg>`` element (no scripts, no external references)."""
        body = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}"'
            f' viewBox="0 0 {self.width} {self.height}" font-family="sans-serif" font-size="11"'
            f' role="img" aria-label="{escape(self.title)}">',
            f'<text x="{self.left}" y="20" font-size="14" font-weight="bold">'
            f"{escape(self.title)}</text>",
            *self._axes_svg(),
        ]
        clip = f"clip-{abs(hash((self.title, self.width, self.height))) % 10**8}"
        x0, y0 = self.left, self.top
        pw, ph = self.width - self.left - self._right(), self.height - self.top - self.bottom
        body.append(
            f'<clipPath id="{clip}"><rect x="{x0}" y="{y0}" width="{pw}" height="{ph}"/></clipPath>'
        )
        body.append(f'<g clip-path="url(#{clip})">')
        body += [self._series_svg(s) for s in self.series if s.kind == "area"]
        body += [self._series_svg(s) for s in self.series if s.kind != "area"]
        body.append("</g>")
        body += [self._marker_svg(m) for m in self.markers]
        body += self._legend_svg()
        if self.note:
            body.append(
                f'<text x="{self.width - self._right()}" y="20" text-anchor="end" fill="#777">'
                f"{escape(self.note)}</text>"
            )
        body.append("</svg>")
        return "".join(body)
