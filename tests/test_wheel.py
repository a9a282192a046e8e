"""The wheel works outside the checkout: built, installed into a fresh venv, run from a temp dir.

The third-party dependencies are borrowed from the project's own environment (a ``.pth``
line naming its site-packages, which adds the folder without running the editable
install's hooks), so the test does not download or compile anything and stays fast;
the project itself comes only from the wheel. The commands run with the temporary
directory as the working directory and ``PYTHONPATH`` unset, so nothing of the checkout
can be imported by accident: every config and data file must be found as package data.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding the wheel built from this checkout."""
    # The borrowed site-packages must not hold the project itself (an editable install
    # adds only a finder hook there, which a .pth path line does not run).
    borrowed = Path(sysconfig.get_paths()["purelib"])
    assert not (borrowed / "bench" / "__init__.py").exists(), "project installed non-editable"
    base = tmp_path_factory.mktemp("wheel")
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    source = base / "source"
    shutil.copytree(
        ROOT, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info",
                                                   "__pycache__", ".mypy_cache", ".ruff_cache")
    )  # fmt: skip
    dist = base / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation",
         "-w", str(dist), "--quiet", "--disable-pip-version-check"],
        check=True, timeout=240, cwd=base,
    )  # fmt: skip
    (wheel,) = dist.glob("switchyard-*.whl")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    (target / "borrowed-dependencies.pth").write_text(f"{borrowed}\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
         "--disable-pip-version-check", str(wheel)],
        check=True, timeout=240, cwd=base,
    )  # fmt: skip
    return python


def _run(python: Path, cwd: Path, *argv: str, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(python), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_the_wheel_carries_its_data_and_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    """Configs and the OpenAPI document come from the installed package, not from ROOT."""
    out = _run(
        installed, tmp_path, "-c",
        "import events.config, daemon.server.http.ops as ops, bench;"
        "print(events.config.CONFIG_DIR); print(bench.__file__);"
        "print(len(ops.openapi_document()))",
    )  # fmt: skip
    config_dir, bench_file, openapi_size = out.split()
    assert (
        Path(config_dir).is_relative_to(ROOT),
        Path(bench_file).is_relative_to(ROOT),
        int(openapi_size) > 1000,
    ) == (False, False, True)
    assert sorted(p.name for p in Path(config_dir).glob("*.toml")) == sorted(
        p.name for p in (ROOT / "configs").glob("*.toml")
    )


def test_the_daemon_checks_its_packaged_config(installed: Path, tmp_path: Path) -> None:
    """``python -m daemon --check-config`` with no --config validates the packaged default."""
    out = _run(installed, tmp_path, "-m", "daemon", "--check-config")
    assert "valid" in out


def test_the_workload_previews_a_pattern(installed: Path, tmp_path: Path) -> None:
    """``python -m workload preview --pattern spike`` reads the packaged scenarios."""
    out = _run(installed, tmp_path, "-m", "workload", "preview", "--pattern", "spike")
    assert "spike" in out


def test_the_bench_compares_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    """A two-run comparison completes from a temporary directory with the installed bench."""
    out = _run(
        installed, tmp_path, "-m", "bench", "compare", "--pattern", "spike", "--runs", "2",
        "--max-runs", "2", "--duration", "1", "--warmup", "0", "--json", "out.json",
        timeout=240,
    )  # fmt: skip
    assert (tmp_path / "out.json").exists(), out


def test_the_example_services_are_used_by_path_outside_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    """examples/ is not in the wheel; a copy of examples/services.py works given by path."""
    shutil.copy(ROOT / "examples" / "services.py", tmp_path / "services.py")
    found = _run(
        installed, tmp_path, "-c", "import importlib.util as u; print(u.find_spec('examples'))"
    )
    assert found.strip() == "None"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run(
        [str(installed), "-m", "bench", "run", "--arch", "null", "--profile", "light",
         "--pattern", "steady", "--base-rate", "200", "--duration", "0.5", "--quiet",
         "--services", "./services.py:make_handler", "--json", "run.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # 3: valid accounting, but the generator lagged on a busy machine (capacity gates only).
    assert proc.returncode in (0, 3), proc.stderr
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["spec"]["services"] == f"{tmp_path.resolve() / 'services.py'}:make_handler"
    assert run["accounting"]["delivered"] == run["accounting"]["deliveries"] > 0
