"""A flame graph as one standalone SVG, drawn from collapsed stacks (no scripts, no fonts).

Each frame is a box as wide as its share of the samples, stacked on its caller (root at
the bottom). Hovering a box shows its name, samples and share (an SVG ``<title>``);
names are written in boxes wide enough to hold some of them. Colours are warm and
stable per function (hashed), so the same function has the same colour across graphs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from html import escape

WIDTH = 1200
ROW = 16
PAD = 10
#: Boxes narrower than this many pixels are left out (their samples still count above).
MIN_PX = 0.3
CHAR_PX = 6.2


class _Node:
    __slots__ = ("children", "count", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0.0
        self.children: dict[str, _Node] = {}


def _tree(stacks: Mapping[tuple[str, ...], float]) -> _Node:
    root = _Node("all")
    for stack, count in stacks.items():
        root.count += count
        node = root
        for frame in stack:
            child = node.children.get(frame)
            if child is None:
                child = node.children[frame] = _Node(frame)
            child.count += count
            node = child
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _colour(name: str) -> str:
    digest = hashlib.blake2b(name.encode(), digest_size=3).digest()
    return f"rgb({205 + digest[0] % 50},{60 + digest[1] % 150},{digest[2] % 60})"


def svg(stacks: Mapping[tuple[str, ...], float], title: str, note: str = "") -> str:
    """The flame graph of ``stacks`` (see the module docstring)."""
    root = _tree(stacks)
    depth = _depth(root)
    height = depth * ROW + 3 * PAD + 24
    total = root.count or 1.0
    scale = (WIDTH - 2 * PAD) / total
    boxes: list[str] = []

    def draw(node: _Node, x: float, level: int) -> None:
        width = node.count * scale
        if width < MIN_PX:
            return
        y = height - PAD - (level + 1) * ROW
        share = node.count / total
        label = f"{node.name} ({node.count:,.0f} samples, {share:.2%})"
        text = ""
        room = int((width - 4) / CHAR_PX)
        if room >= 3:
            shown = node.name if len(node.name) <= room else node.name[: room - 2] + ".."
            text = f'<text x="{x + 2:.1f}" y="{y + ROW - 4}">{escape(shown)}</text>'
        boxes.append(
            f'<g><title>{escape(label)}</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}"'
            f' height="{ROW - 1}" fill="{_colour(node.name)}" rx="1"/>{text}</g>'
        )
        offset = x
        for child in sorted(node.children.values(), key=lambda c: c.name):
            draw(child, offset, level + 1)
            offset += child.count * scale

    draw(root, PAD, 0)
    heading = escape(title) + (f" — {escape(note)}" if note else "")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="10"'
        f' role="img" aria-label="{escape(title)}">'
        f'<rect width="{WIDTH}" height="{height}" fill="#fffdf7"/>'
        f'<text x="{PAD}" y="{PAD + 12}" font-size="13" font-family="sans-serif">{heading}</text>'
        + "".join(boxes)
        + "</svg>\n"
    )
