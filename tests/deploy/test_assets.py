"""deploy/: every metric the alert rules and the dashboard name is one the daemon exports,
the rules pass promtool (when installed), and the systemd unit is hardened and verifies.

The exported names are read at test time from the daemon's own registry
(daemon/server/metrics.py ``build_registry``), so a renamed or removed metric fails
here instead of leaving a dashboard panel empty or an alert silent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from daemon.server.metrics import ServerMetrics, build_registry
from events import RouterStats, SubscriptionStats

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "switchyard-alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "switchyard-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "switchyard-daemon.json"
UNIT = DEPLOY / "systemd" / "switchyard.service"

#: Series Prometheus records itself for every scrape target, not the daemon.
PROMETHEUS_OWN = {"up"}
#: PromQL words that look like names: keywords and aggregation modifiers.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan"}  # fmt: skip
#: The series a family of each type exposes, from its name.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",), "summary": ("", "_sum", "_count"), "info": ("_info",)}  # fmt: skip


def _stats() -> RouterStats:
    sub = SubscriptionStats(service="s", pattern=">", module="", depth=0, in_flight=0,
                            breaker="closed", deliveries=0, delivered=0, dead_lettered=0,
                            dropped=0, retries=0)  # fmt: skip
    return RouterStats(published=0, accepted=0, rejected={"overloaded": 0}, unrouted=0,
                       unknown_targets=0, deliveries=0, delivered=0,
                       dead_lettered={"failed": 0}, dropped={"overflow": 0}, retries=0,
                       pending=0, dead_letter_store=0, subscriptions=[sub])  # fmt: skip


def exported() -> set[str]:
    """Every series name the daemon's registry exposes (each family's, by its type)."""
    families: list[Metric] = list(build_registry(ServerMetrics(), _stats).collect())
    names = {s.name for family in families for s in family.samples}
    for family in families:
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    found = re.findall(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(?![\w:]|\s*\()", text)
    return {name for name in found if name.lower() not in KEYWORDS}


def rule_exprs() -> list[str]:
    return re.findall(r"^\s*expr:\s*(.+?)\s*$", RULES.read_text(), re.MULTILINE)


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dash["panels"] for t in panel["targets"]]
    for variable in dash["templating"]["list"]:
        if variable["type"] == "query":
            exprs += re.findall(r"label_values\(\s*([^,)]+)", variable["definition"])
    return exprs


def test_the_name_extraction_is_not_vacuous() -> None:
    """Functions, labels, ranges, grouping and numbers are not names; metrics are."""
    expr = ('sum by (le) (rate(a_total{job=~"$job"}[5m])) / clamp_min(b_bucket, 1e-9) > 0.1'
            ' and on (instance) c_total offset 5m')  # fmt: skip
    assert {"a_total", "b_bucket", "c_total"} == names_in(expr)


def test_a_name_the_daemon_does_not_export_is_caught() -> None:
    """The exported set is the registry's, not everything: a made-up series is missing."""
    named = names_in("rate(switchyard_router_published_total[5m]) + switchyard_bogus_total")
    assert {"switchyard_bogus_total"} == named - exported()


@pytest.mark.parametrize("source", ["alert rules", "dashboard"])
def test_every_metric_named_is_exported_by_the_daemon(source: str) -> None:
    """No rule or panel reads a series the daemon does not export (or Prometheus' own up)."""
    exprs = rule_exprs() if source == "alert rules" else dashboard_exprs()
    named = set().union(*(names_in(e) for e in exprs))
    missing = sorted(named - exported() - PROMETHEUS_OWN)
    assert (len(named) >= 5, missing) == (True, [])


def test_the_rules_cover_what_operators_are_paged_for() -> None:
    """Loop lag, readiness, rejects, dead letters, open breakers, the journal and failed
    durability writes each have an alert reading the matching metric."""
    named = set().union(*(names_in(e) for e in rule_exprs()))
    wanted = {
        "switchyard_event_loop_lag_seconds", "switchyard_http_requests_total",
        "switchyard_router_rejected_total", "switchyard_router_dead_lettered_total",
        "switchyard_subscription_breaker_open", "switchyard_journal_appended_total",
        "switchyard_journal_errors_total", "switchyard_dead_letter_write_errors_total",
    }  # fmt: skip
    assert set() == wanted - named


def test_the_dashboard_has_the_operator_panels() -> None:
    """Ingress, latency percentiles, depth, breakers, dead letters, loop lag and RSS are drawn;
    panel ids are unique and every query goes through the datasource variable."""
    dash = json.loads(DASHBOARD.read_text())
    named = set().union(*(names_in(e) for e in dashboard_exprs()))
    wanted = {
        "switchyard_ingress_events_total", "switchyard_delivery_latency_seconds_bucket",
        "switchyard_subscription_depth", "switchyard_subscription_breaker_open",
        "switchyard_router_dead_lettered_total", "switchyard_event_loop_lag_seconds",
        "process_resident_memory_bytes",
    }  # fmt: skip
    ids = [p["id"] for p in dash["panels"]]
    sources = {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]}
    assert (set(), len(ids), {"${datasource}"}) == (wanted - named, len(set(ids)), sources)


PROMTOOL = shutil.which("promtool")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian: prometheus)")
def test_promtool_accepts_the_rules_and_their_unit_tests() -> None:
    """`promtool check rules` and `promtool test rules` both pass."""
    assert PROMTOOL is not None
    check = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True,
                           text=True, check=False)  # fmt: skip
    tests = subprocess.run([PROMTOOL, "test", "rules", str(RULE_TESTS)], capture_output=True,
                           text=True, check=False, cwd=RULE_TESTS.parent)  # fmt: skip
    assert (check.returncode, tests.returncode) == (0, 0), check.stdout + tests.stdout


def unit_settings() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_the_unit_is_hardened() -> None:
    """The unit runs the daemon unprivileged in a read-only system with the hardening
    options systemd offers a network daemon."""
    settings = unit_settings()
    wanted = {
        "DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
        "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes",
        "CapabilityBoundingSet": "", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectControlGroups": "yes", "RestrictNamespaces": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
        "RestrictSUIDSGID": "yes", "UMask": "0077",
    }  # fmt: skip
    wrong = {k: settings.get(k) for k, v in wanted.items() if v not in settings.get(k, [])}
    start = settings["ExecStart"][0]
    assert (
        wrong,
        "-m daemon --config" in start,
        "@system-service" in settings.get("SystemCallFilter", []),
    ) == ({}, True, True)


ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_verifies_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify` accepts the unit, its paths pointed at this checkout."""
    assert ANALYZE is not None
    text = UNIT.read_text().replace("/opt/switchyard/.venv/bin/python", sys.executable)
    text = text.replace("/etc/switchyard/daemon.toml", str(ROOT / "configs" / "daemon.toml"))
    unit = tmp_path / "switchyard.service"
    unit.write_text(text)
    proc = subprocess.run([ANALYZE, "verify", str(unit)], capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert (proc.returncode, proc.stderr.strip()) == (0, "")
