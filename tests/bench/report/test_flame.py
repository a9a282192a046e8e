"""The flame graph SVG: a box per frame as wide as its share, names on hover, nothing fetched."""

from __future__ import annotations

import re

from bench.report import flame


def test_each_frame_is_a_box_as_wide_as_its_share() -> None:
    """main holds all 4 samples, a three of them, b one: widths 4:3:1, each titled."""
    svg = flame.svg({("main", "a"): 3.0, ("main", "b"): 1.0}, "t")
    boxes = dict(re.findall(r"<title>([^ ]+) \([^)]*\)</title><rect [^>]*width=\"([\d.]+)\"", svg))
    full = flame.WIDTH - 2 * flame.PAD
    assert {"all": full, "main": full, "a": full * 0.75, "b": full * 0.25} == {
        k: float(v) for k, v in boxes.items()
    }


def test_the_svg_is_standalone() -> None:
    """No script, no external reference: it opens the same anywhere."""
    svg = flame.svg({("main", "a<b>&c"): 1.0}, "t", "note")
    assert (
        svg.startswith("<svg"),
        re.findall(r"<script|href=|@import", svg),
        "a&lt;b&gt;&amp;c" in svg,
    ) == (True, [], True)
