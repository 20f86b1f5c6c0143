"""The deployment assets pass the real tools: promtool and haproxy (Debian packages).

Outside CI a missing tool skips; with ``CI=true`` it fails (docs/deployment.md, "What the
tests check").
Debian packages: ``prometheus`` (promtool), ``haproxy``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (apt-get install -y prometheus haproxy)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_promtool_accepts_the_prometheus_config() -> None:
    result = _run(_tool("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_alert_rules() -> None:
    result = _run(_tool("promtool"), "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_as_their_unit_tests_expect() -> None:
    result = _run(_tool("promtool"), "test", "rules", str(PROMETHEUS / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel query, as a recording rule, must parse (Grafana's $__ macros filled in)."""
    promtool = _tool("promtool")
    rules: list[dict[str, str]] = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = re.sub(r"\$__(rate_)?interval", "5m", target["expr"])
                rules.append({"record": f"dashboard:check_{len(rules)}", "expr": expr})
    assert len(rules) > 20
    rule_file = tmp_path / "dashboards.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = _run(promtool, "check", "rules", str(rule_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_haproxy_accepts_the_cluster_config() -> None:
    result = _run(_tool("haproxy"), "-c", "-f", str(DEPLOY / "cluster" / "haproxy.cfg"))
    assert result.returncode == 0, result.stdout + result.stderr
    # The node names resolve only inside the compose network; anything else is a real warning.
    warnings = [
        line
        for line in result.stderr.splitlines()
        if "[WARNING]" in line and "could not resolve address" not in line
    ]
    assert warnings == []


@pytest.mark.parametrize(
    "script",
    ["scripts/start-ml-services.sh", "scripts/stop-ml-services.sh", "deploy/tls/gen-certs.sh"],
)
def test_shell_scripts_parse_and_document_themselves(script: str) -> None:
    path = DEPLOY.parent / script
    assert _run("bash", "-n", str(path)).returncode == 0
    if script.startswith("scripts/"):
        result = _run("bash", str(path), "--help")
        assert result.returncode == 0
        assert "Usage:" in result.stdout
