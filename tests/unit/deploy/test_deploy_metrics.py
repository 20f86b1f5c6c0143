"""Every metric the dashboards and alert rules query is one the code exports.

The original design's dashboards showed no data because they queried names the code did
not export (``ml_cost_usd_total`` vs ``ml_cost_dollars_total``).  Names come from
``observability/names.py``; prometheus_client adds ``_total`` to counters and
``_bucket``/``_sum``/``_count`` to histograms, so each query must use the suffix
that matches the metric's type (the type is the word in the names.py comment).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bookmarkai_ml.observability import names

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
_IDENT = re.compile(r"(?<![A-Za-z0-9_:])ml_[a-z_]+")
_SUFFIXES = {
    "_total": "counter",
    "_bucket": "histogram",
    "_sum": "histogram",
    "_count": "histogram",
}
_DECLARED = re.compile(r'^\w+ = "(ml_[a-z_]+)"\s+#\s*(.*)$', re.MULTILINE)


def _exported() -> dict[str, str]:
    """names.py's metric names mapped to counter | histogram | gauge (from the comment)."""
    source = Path(names.__file__).read_text()
    kinds: dict[str, str] = {}
    for name, comment in _DECLARED.findall(source):
        words = comment.split()
        kinds[name] = next((k for k in ("counter", "histogram") if k in words), "gauge")
    values = {v for k, v in vars(names).items() if k.isupper() and isinstance(v, str)}
    assert set(kinds) == values, "every names.py constant needs a '# type ...' comment"
    return kinds


def _base_and_kind(series: str) -> tuple[str, str]:
    """``ml_x_total`` -> (``ml_x``, counter); a bare name is a gauge read."""
    for suffix, kind in _SUFFIXES.items():
        if series.endswith(suffix):
            return series.removesuffix(suffix), kind
    return series, "gauge"


def _panel_exprs(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield inner["title"], target["expr"]


def _queries(dashboards: dict[str, dict[str, Any]], rules: list[dict[str, Any]]) -> list[str]:
    exprs = [e for d in dashboards.values() for _, e in _panel_exprs(d)]
    return exprs + [r["expr"] for r in rules]


def test_names_py_declares_types_for_every_metric() -> None:
    kinds = _exported()
    assert kinds[names.COST] == "counter"
    assert kinds[names.TASK_DURATION] == "histogram"
    assert kinds[names.PRODUCER_CONNECTION_STATE] == "gauge"


def test_every_queried_metric_is_exported_with_the_right_suffix(
    dashboards: dict[str, dict[str, Any]], alert_rules: list[dict[str, Any]]
) -> None:
    kinds = _exported()
    problems = []
    for expr in _queries(dashboards, alert_rules):
        for series in _IDENT.findall(expr):
            base, used_as = _base_and_kind(series)
            if base not in kinds:
                problems.append(f"{series}: not in names.py ({expr})")
            elif kinds[base] != used_as:
                problems.append(f"{series}: {base} is a {kinds[base]} ({expr})")
    assert problems == []


def test_the_extractor_catches_the_seed_mistakes() -> None:
    kinds = _exported()
    seed_bug = _base_and_kind(_IDENT.findall("sum(rate(ml_cost_usd_total[5m]))")[0])
    assert seed_bug[0] not in kinds
    bare_counter = _base_and_kind(_IDENT.findall("sum(ml_cost_dollars)")[0])
    assert bare_counter == ("ml_cost_dollars", "gauge") != ("ml_cost_dollars", kinds[names.COST])
    assert _IDENT.findall('x{queue="ml.embed"} + foo_ml_bar') == []


def test_the_seed_producer_metrics_are_all_on_a_dashboard_and_alerted(
    dashboards: dict[str, dict[str, Any]], alert_rules: list[dict[str, Any]]
) -> None:
    producer = dashboards["ml-producer-monitoring.json"]
    shown = {_base_and_kind(s)[0] for _, e in _panel_exprs(producer) for s in _IDENT.findall(e)}
    seed = {
        names.PRODUCER_CONNECTION_STATE,
        names.PRODUCER_PUBLISHES,
        names.PRODUCER_PUBLISH_LATENCY,
        names.PRODUCER_BREAKER_STATE,
        names.OUTBOX_BACKLOG,
        names.OUTBOX_OLDEST_AGE,
        names.PRODUCER_CONFIRM_TIMEOUTS,
        names.PRODUCER_HEALTH_CHECK_FAILURES,
    }
    assert seed <= shown
    alerted = {_base_and_kind(s)[0] for r in alert_rules for s in _IDENT.findall(r["expr"])}
    required = seed - {names.PRODUCER_PUBLISH_LATENCY}
    required |= {names.DEAD_LETTERS, names.BUDGET_REJECTIONS, names.TASKS}
    assert required <= alerted


def test_alert_rules_are_complete(alert_rules: list[dict[str, Any]]) -> None:
    seen = set()
    for rule in alert_rules:
        assert rule["alert"] not in seen
        seen.add(rule["alert"])
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"]
        assert rule["annotations"]["description"]


def test_dashboards_use_the_provisioned_datasource(dashboards: dict[str, dict[str, Any]]) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
    (datasource,) = yaml.safe_load(provisioning.read_text())["datasources"]
    ref = {"type": datasource["type"], "uid": datasource["uid"]}
    assert {d["title"] for d in dashboards.values()} == {"ML Producer Monitoring", "ML Analytics"}
    assert len({d["uid"] for d in dashboards.values()}) == len(dashboards)
    for file, dashboard in dashboards.items():
        text = (DEPLOY / "grafana" / "dashboards" / file).read_text()
        assert "${" not in text, f"{file}: import-time variables break provisioning"
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{file}: duplicate panel ids"
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == ref, f"{file}: {panel['title']}"
            assert panel["targets"], f"{file}: {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["datasource"] == ref, f"{file}: {panel['title']}"


@pytest.mark.parametrize("compose_file", ["docker-compose.yml"])
def test_grafana_and_prometheus_mounts_match_their_configs(compose_file: str) -> None:
    compose = yaml.safe_load((DEPLOY / compose_file).read_text())
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "bookmarkai-ml.yml").read_text()
    )["providers"][0]
    grafana_mounts = {v.split(":")[1] for v in compose["services"]["grafana"]["volumes"]}
    assert provider["options"]["path"] in grafana_mounts
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    prom_mounts = compose["services"]["prometheus"]["volumes"]
    for rule_file in prometheus["rule_files"]:
        assert any(m.endswith(f"/etc/prometheus/{rule_file}:ro") for m in prom_mounts)
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    services = compose["services"]
    for target in targets - {"localhost:9090"}:
        host, port = target.split(":")
        assert host in services, f"scrape target {target} is no compose service"
        command = services[host].get("command", [])
        exposed = {p.split(":")[-1] for p in services[host].get("ports", [])}
        assert port in exposed or port in command, f"{target}: nothing listens there"


def test_dashboard_panels_fit_the_grid_without_overlapping(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    for file, dashboard in dashboards.items():
        cells: set[tuple[int, int]] = set()
        for panel in dashboard["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, f"{file}: {panel['title']} is wider than the grid"
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & area, f"{file}: {panel['title']} overlaps another panel"
            cells |= area
