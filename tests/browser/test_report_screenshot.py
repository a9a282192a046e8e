"""The HTML report opened by headless Chromium: no console errors, plots drawn, screenshot saved.

Runs only where Debian's chromium is installed (``make chromium``); elsewhere it
skips with that reason. ``make test-browser`` runs it and keeps the screenshot at
``$SWITCHYARD_SCREENSHOT`` (default: only in pytest's temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.cli import main
from tests.bench.report.support import TUNABLE, comparison, write

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0", "--window-size=1400,2400",
)  # fmt: skip
#: Any console line is a failure: the report has no scripts and loads nothing,
#: so a console message can only be an error (a script, a blocked fetch).
CONSOLE = re.compile(r"Uncaught|ERROR:CONSOLE|:CONSOLE[:(]")

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: run `make chromium`"
    ),
    pytest.mark.timeout(180),
]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    results = write(comparison(("daemon", TUNABLE)), folder / "compare.json")
    html = folder / "report.html"
    assert main(["report", str(results), "--html", str(html)]) == 0
    return html


def test_screenshot_without_console_errors(page: Path, tmp_path: Path) -> None:
    """Chromium renders the report to a non-trivial PNG and logs no console message."""
    shot = tmp_path / "report.png"
    proc = _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    console = [line for line in proc.stderr.splitlines() if CONSOLE.search(line)]
    assert (proc.returncode, console) == (0, [])
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # A blank 1400x2400 page compresses to a few KiB; drawn plots take far more.
    assert shot.stat().st_size > 50_000
    keep = os.environ.get("SWITCHYARD_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_rendered_dom_holds_every_plot(page: Path, tmp_path: Path) -> None:
    """The DOM Chromium built has the five comparison plots, each with drawn lines."""
    proc = _chromium(tmp_path, "--dump-dom", page.as_uri())
    svgs = re.findall(r"<svg\b.*?</svg>", proc.stdout, flags=re.S)
    drawn = [("<polyline" in s or "<circle" in s) for s in svgs]
    assert (proc.returncode, drawn) == (0, [True] * 5)
