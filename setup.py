"""Packaging beyond what pyproject.toml can say: ``configs/`` ships as ``switchyard_configs``.

setuptools' ``[tool.setuptools.packages.find]`` cannot rename a folder into a package,
and the TOML files must be in the wheel (found with importlib.resources), so the package
list is built here: every project package, plus ``configs/`` under its installed name.
"""

from __future__ import annotations

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["events*", "coordinator*", "daemon*", "workload*", "bench*"]),
        "switchyard_configs",
    ],
    package_dir={"switchyard_configs": "configs"},
    package_data={"switchyard_configs": ["*.toml"], "daemon.server.http": ["openapi.json"]},
)
