"""Fixtures that load the deployment assets under ``deploy/`` once per session."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"


def load_yaml(path: Path) -> Any:
    """One YAML document (compose files, Prometheus config, provisioning)."""
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="session")
def deploy_dir() -> Path:
    return DEPLOY


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    """The whole-stack compose file."""
    data: dict[str, Any] = load_yaml(DEPLOY / "docker-compose.yml")
    return data


@pytest.fixture(scope="session")
def k8s_docs() -> list[dict[str, Any]]:
    """Every Kubernetes object in ``deploy/k8s`` (all files, every ``---`` document)."""
    docs: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs.append({**doc, "_file": path.name})
    return docs


@pytest.fixture(scope="session")
def dashboards() -> dict[str, dict[str, Any]]:
    """Grafana dashboards by file name."""
    return {
        path.name: json.loads(path.read_text())
        for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    }


@pytest.fixture(scope="session")
def alert_rules() -> list[dict[str, Any]]:
    """Every rule of ``deploy/prometheus/alerts.yml``."""
    groups = load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
    return [rule for group in groups for rule in group["rules"]]
