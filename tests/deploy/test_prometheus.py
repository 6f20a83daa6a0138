"""The Prometheus rules (deploy/prometheus) and the Grafana dashboard (deploy/grafana).

promtool checks the rules and runs their unit tests (deploy/prometheus/tests); every metric name
the rules and the dashboard use must be one the code defines (found by a regex over the
``Counter(``/``Gauge(``/``Histogram(`` calls, so renaming a metric fails here) or one listed in
deploy/prometheus/external-metrics.txt, and every label a selector matches on must be one of
that metric's labels.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "causality-rules.yaml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yaml"))
EXTERNAL = ROOT / "deploy" / "prometheus" / "external-metrics.txt"
DASHBOARD = ROOT / "deploy" / "grafana" / "causality-pipeline.json"
SOURCES = ("causality", "metadata", "pipeline", "warehouse", "workspace")
PROMTOOL_VERSION = "v0.316.0"  # the Makefile's `promtool` target builds this one
PROMTOOL = Path(os.environ.get(
    "CAUSALITY_PROMTOOL",
    Path.home() / ".cache" / "causality" / "tools" / f"promtool-{PROMTOOL_VERSION}" / "promtool"))
SEVERITIES = {"warning", "critical"}
ANNOTATIONS = {"summary", "description", "runbook"}
# Labels Prometheus adds to every series it scrapes (and the Kubernetes SD relabelling keeps).
TARGET_LABELS = {"job", "instance", "pod", "namespace"}

_DEFINITION = re.compile(r'\b(Counter|Gauge|Histogram|Summary)\(\s*"(causality_[a-z0-9_]+)"')
_LABEL_TUPLE = re.compile(r'\(\s*("[a-z_]+"(?:\s*,\s*"[a-z_]+")*)\s*,?\s*\)')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_IDENT = re.compile(r"(?<![\w:.$])([A-Za-z_:][\w:]*)")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


# --- what the code defines ------------------------------------------------------------------

@cache
def code_metrics() -> dict[str, frozenset[str]]:
    """Every exposed series name the code defines, with its labels (as prometheus_client
    names them: a Counter ``x`` or ``x_total`` is ``x_total``, a Histogram adds ``_bucket``…)."""
    found: dict[str, frozenset[str]] = {}
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            for m in _DEFINITION.finditer(text):
                kind, name = m.groups()
                call = text[m.end():text.find("registry=", m.end())]
                tup = _LABEL_TUPLE.search(call)
                labels = frozenset(re.findall(r'"([a-z_]+)"', tup.group(1)) if tup else ())
                found.update(_exposed(kind, name, labels))
    return found


def _exposed(kind: str, name: str, labels: frozenset[str]) -> Iterator[tuple[str, frozenset[str]]]:
    if kind == "Counter":
        base = name.removesuffix("_total")
        yield from ((base + "_total", labels), (base + "_created", labels))
    elif kind == "Gauge":
        yield name, labels
    else:
        yield from ((name + s, labels) for s in ("_sum", "_count", "_created"))
        if kind == "Histogram":
            yield name + "_bucket", labels | {"le"}
        else:
            yield name, labels | {"quantile"}


@cache
def external_metrics() -> frozenset[str]:
    lines = (line.split("#")[0].split() for line in EXTERNAL.read_text().splitlines())
    return frozenset(parts[0] for parts in lines if parts)


@cache
def rules() -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def recorded() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def alerts() -> list[dict[str, Any]]:
    return [r for r in rules() if "alert" in r]


# --- what an expression uses ----------------------------------------------------------------

def _neutral(expr: str) -> str:
    """The expression with strings emptied and Grafana's ``$variables`` removed."""
    return re.sub(r"\$\{?\w+\}?", "", _STRING.sub('""', expr))


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression: identifiers that are not functions, keywords,
    label names (in matchers or grouping clauses), durations or numbers."""
    s = _neutral(expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = _GROUPING.sub(" ", s)
    names = set()
    for m in _IDENT.finditer(s):
        if s[m.end():].lstrip().startswith("(") or m.group(1).lower() in _KEYWORDS:
            continue
        names.add(m.group(1))
    return names


def selector_labels(expr: str) -> Iterator[tuple[str, set[str]]]:
    for m in _SELECTOR.finditer(_neutral(expr)):
        yield m.group(1), set(_MATCHER.findall(m.group(2)))


def grouping_labels(expr: str) -> set[str]:
    return {label.strip() for m in _GROUPING.finditer(_neutral(expr))
            for label in m.group(1).split(",") if label.strip()}


def rule_exprs() -> list[tuple[str, str]]:
    return [(r.get("alert") or r["record"], r["expr"]) for r in rules()]


def dashboard() -> dict[str, Any]:
    board: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return board


def dashboard_panels() -> list[dict[str, Any]]:
    out = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard_panels() for t in p.get("targets", [])]


def check_names(exprs: list[tuple[str, str]]) -> None:
    known = set(code_metrics()) | external_metrics() | recorded()
    unknown = {f"{where}: {name}" for where, expr in exprs for name in metric_names(expr)
               if name not in known}
    assert not unknown, (f"metrics neither the code defines nor {EXTERNAL.name} lists: "
                         f"{sorted(unknown)}")


def check_labels(exprs: list[tuple[str, str]]) -> None:
    metrics = code_metrics()
    wrong = []
    for where, expr in exprs:
        used = metric_names(expr)
        for name, labels in selector_labels(expr):
            if name in metrics and labels - metrics[name] - TARGET_LABELS:
                wrong.append(f"{where}: {name} has no label {sorted(labels - metrics[name])}")
        if used <= set(metrics):  # exporters' labels are not known here
            allowed = set().union(*(metrics[n] for n in used)) | TARGET_LABELS
            if grouping_labels(expr) - allowed:
                wrong.append(f"{where}: grouping by {sorted(grouping_labels(expr) - allowed)}")
    assert not wrong, wrong


# --- the tests ------------------------------------------------------------------------------

def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    if not PROMTOOL.is_file():
        pytest.fail(f"promtool {PROMTOOL_VERSION} is not built at {PROMTOOL}: run `make promtool`")
    return subprocess.run([str(PROMTOOL), *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=ROOT)


def test_promtool_checks_the_rules() -> None:
    out = promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass() -> None:
    assert RULE_TESTS
    out = promtool("test", "rules", *map(str, RULE_TESTS))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_extraction_finds_each_process_metrics() -> None:
    found = code_metrics()
    for name in ("causality_ingest_requests_total", "causality_ingest_request_seconds_bucket",
                 "causality_sink_oldest_unconsumed_age_seconds", "causality_compactor_runs_total",
                 "causality_reactor_deliveries_total"):
        assert name in found, name
    assert found["causality_ingest_requests_total"] == {"route", "status"}
    assert found["causality_ingest_request_seconds_bucket"] == {"route", "le"}
    assert found["causality_sink_consumer_pending"] == set()
    assert metric_names('sum without (instance) (rate(a_total{x="b c"}[5m])) / ignoring(y) '
                        'b > 1e10 and on (z) histogram_quantile(0.9, c_bucket)') == \
        {"a_total", "b", "c_bucket"}


def test_rules_use_only_metrics_that_exist() -> None:
    check_names(rule_exprs())


def test_rules_match_only_labels_the_metrics_have() -> None:
    check_labels(rule_exprs())


def test_every_external_metric_listed_is_used() -> None:
    used = {n for _, e in rule_exprs() + dashboard_exprs() for n in metric_names(e)}
    assert external_metrics() <= used, sorted(external_metrics() - used)


@pytest.mark.parametrize("alert", alerts(), ids=lambda a: a["alert"])
def test_each_alert_has_for_severity_and_annotations(alert: dict[str, Any]) -> None:
    assert alert.get("for"), "an alert needs `for:` so one bad scrape does not page"
    assert alert.get("labels", {}).get("severity") in SEVERITIES
    annotations = alert.get("annotations", {})
    assert set(annotations) >= ANNOTATIONS, ANNOTATIONS - set(annotations)
    assert all(annotations[k].strip() for k in ANNOTATIONS)


def test_each_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - firing == set(), f"alerts no test sees firing: {sorted(names - firing)}"
    assert names - quiet == set(), f"alerts no test sees quiet: {sorted(names - quiet)}"
    assert (firing | quiet) <= names, f"tests of unknown alerts: {sorted((firing | quiet) - names)}"


def test_dashboard_has_a_datasource_variable_every_panel_uses() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    queried = [p for p in dashboard_panels() if p.get("targets")]
    assert queried
    for panel in queried:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
    ids = [p["id"] for p in dashboard_panels()]
    assert len(ids) == len(set(ids))


def test_dashboard_uses_only_metrics_that_exist() -> None:
    check_names(dashboard_exprs())
    check_labels(dashboard_exprs())
