"""The compose files: a schema of the keys we use, and consistency with the code.

There is no Docker engine on the test machine, so these checks stand in for
``docker compose config``: unknown keys, dangling ``depends_on``, missing worker
services, clashing host ports, missing bind-mount sources, and environment
variables that name no setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bookmarkai_ml.config import StorageSettings, default_tasks
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.settings_docs import variable_names

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
BASE_FILES = ["docker-compose.yml", "cluster/docker-compose.yml"]
OVERLAY = "docker-compose.tls.yml"
GENERATED = {DEPLOY / "tls" / "certs"}  # made by deploy/tls/gen-certs.sh, never committed
STACK = {"rabbitmq", "postgres", "minio", "minio-init", "prometheus", "grafana", "jaeger"}
STACK |= {"migrate", "api", "relay"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Build(_Strict):
    context: str
    dockerfile: str


class Healthcheck(_Strict):
    test: list[str]
    interval: str | None = None
    timeout: str | None = None
    retries: int | None = None
    start_period: str | None = None


class Dependency(_Strict):
    condition: Literal["service_started", "service_healthy", "service_completed_successfully"]


class Service(_Strict):
    """The compose service keys this project uses; anything else is a typo."""

    image: str | None = None
    build: Build | None = None
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    environment: dict[str, str] | None = None
    volumes: list[str] | None = None
    ports: list[str] | None = None
    depends_on: dict[str, Dependency] | None = None
    healthcheck: Healthcheck | None = None
    hostname: str | None = None
    restart: Literal["no", "always", "unless-stopped", "on-failure"] | None = None


class ComposeFile(_Strict):
    model_config = ConfigDict(extra="allow")  # x-* extension fields only, checked below
    name: str | None = None
    services: dict[str, Service]
    volumes: dict[str, None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _only_extensions(self) -> ComposeFile:
        unknown = [k for k in self.model_extra or {} if not k.startswith("x-")]
        if unknown:
            raise ValueError(f"unknown top-level keys {unknown}")
        return self


def _load(relative: str) -> ComposeFile:
    return ComposeFile.model_validate(yaml.safe_load((DEPLOY / relative).read_text()))


def _host_port(spec: str) -> str:
    return spec.rsplit(":", 1)[0]


def test_every_yaml_file_under_deploy_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
    assert len(files) >= 15
    for path in files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        assert docs, f"{path} is empty"
        assert all(isinstance(d, dict) for d in docs), f"{path}: top level must be a mapping"


@pytest.mark.parametrize("relative", [*BASE_FILES, OVERLAY])
def test_compose_file_matches_the_schema(relative: str) -> None:
    try:
        _load(relative)
    except ValidationError as exc:  # pragma: no cover - the message is the point
        pytest.fail(f"{relative}: {exc}")


@pytest.mark.parametrize("relative", BASE_FILES)
def test_services_are_buildable_and_dependencies_resolve(relative: str) -> None:
    compose = _load(relative)
    for name, service in compose.services.items():
        assert service.image or service.build, f"{name}: needs image or build"
        for target, dep in (service.depends_on or {}).items():
            assert target in compose.services, f"{name} depends on unknown {target}"
            target_service = compose.services[target]
            if dep.condition == "service_healthy":
                assert target_service.healthcheck, f"{name} waits for {target}'s health"
            if dep.condition == "service_completed_successfully":
                assert target_service.restart == "no", f"{target} must run once"


def test_one_shot_services_are_awaited_by_a_long_running_one() -> None:
    """``compose up --wait`` (start-ml-services.sh) treats an unadopted exit(0) as failure."""
    stack = _load("docker-compose.yml")
    one_shots = {name for name, s in stack.services.items() if s.restart == "no"}
    assert one_shots == {"migrate", "minio-init"}
    for one_shot in one_shots:
        adopters = [
            name
            for name, s in stack.services.items()
            if s.restart != "no"
            and (dep := (s.depends_on or {}).get(one_shot)) is not None
            and dep.condition == "service_completed_successfully"
        ]
        assert adopters, f"{one_shot}: no long-running service waits for it to complete"


@pytest.mark.parametrize("relative", BASE_FILES)
def test_volumes_are_declared_and_bind_sources_exist(relative: str) -> None:
    compose = _load(relative)
    base = (DEPLOY / relative).parent
    for name, service in compose.services.items():
        for spec in service.volumes or []:
            source = spec.split(":", 1)[0]
            if source.startswith((".", "/")):
                path = (base / source).resolve()
                if not any(path.is_relative_to(g) for g in GENERATED):
                    assert path.exists(), f"{name}: bind source {source} is missing"
            else:
                assert source in compose.volumes, f"{name}: volume {source} not declared"


def test_tls_overlay_only_extends_known_services(deploy_dir: Path) -> None:
    base, overlay = _load("docker-compose.yml"), _load(OVERLAY)
    assert set(overlay.services) <= set(base.services)
    app_services = {n for n, s in base.services.items() if s.build}
    assert app_services <= set(overlay.services), "every app service must switch to amqps"
    for name in app_services:
        env = overlay.services[name].environment or {}
        assert env["BOOKMARKAI_ML_BROKER_URL"].startswith("amqps://")


def test_host_ports_are_unique() -> None:
    for files in (["docker-compose.yml", OVERLAY], ["cluster/docker-compose.yml"]):
        seen: dict[str, str] = {}
        for relative in files:
            for name, service in _load(relative).services.items():
                for spec in service.ports or []:
                    port = _host_port(spec)
                    owner = seen.setdefault(port, name)
                    assert owner == name, f"host port {port}: {owner} and {name}"


def test_the_whole_stack_and_one_worker_per_queue(compose: dict[str, Any]) -> None:
    stack = _load("docker-compose.yml")
    assert set(stack.services) >= STACK
    workers = {
        (s.command or [])[2]: name
        for name, s in stack.services.items()
        if (s.command or [])[:2] == ["worker", "--queue"]
    }
    assert set(workers) == set(TASKS.queues)
    defaults = default_tasks()
    for task, row in TASKS.items():
        queue = row.queue
        port = str(defaults[task].metrics_port)
        service = stack.services[workers[queue]]
        assert service.ports == [f"{port}:{port}"], f"{queue}: metrics port (9091-9093)"
        assert service.healthcheck is not None
        assert f":{port}/metrics" in " ".join(service.healthcheck.test)


def test_minio_bucket_is_the_settings_default() -> None:
    stack = _load("docker-compose.yml")
    bucket = StorageSettings().s3_bucket
    assert bucket == "bookmarkai-media-development"  # design default
    assert bucket in " ".join(stack.services["minio-init"].entrypoint or [])


def _rabbitmq_conf() -> dict[str, str]:
    """``deploy/rabbitmq/rabbitmq.conf`` (sysctl format) as key -> value."""
    pairs = {}
    for line in (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def test_broker_urls_use_the_user_rabbitmq_conf_creates() -> None:
    """No deprecated RABBITMQ_DEFAULT_* env vars: the user comes from rabbitmq.conf."""
    conf = _rabbitmq_conf()
    user, password = conf.get("default_user", "guest"), conf.get("default_pass", "guest")
    assert user != "guest", "guest may only connect from localhost, not from other containers"
    for relative in [*BASE_FILES, OVERLAY]:
        for name, service in _load(relative).services.items():
            env = service.environment or {}
            assert not [k for k in env if k.startswith("RABBITMQ_DEFAULT_")], name
            url = env.get("BOOKMARKAI_ML_BROKER_URL")
            if url:
                assert urlsplit(url).username == user, f"{relative}: {name}"
                assert urlsplit(url).password == password, f"{relative}: {name}"


def _setting_exists(env_name: str) -> bool:
    """True when ``env_name`` sets a field of ``Settings`` (the documented names)."""
    return env_name in variable_names()


def test_every_app_environment_variable_is_a_setting(k8s_docs: list[dict[str, Any]]) -> None:
    names: set[str] = set()
    for relative in [*BASE_FILES, OVERLAY]:
        for service in _load(relative).services.values():
            names |= set(service.environment or {})
    for doc in k8s_docs:
        names |= set(doc.get("data", {})) | set(doc.get("stringData", {}))
        for container in _containers(doc):
            names |= {env["name"] for env in container.get("env", [])}
    ours = {n for n in names if n.startswith("BOOKMARKAI_ML_")}
    assert len(ours) > 10
    assert sorted(n for n in ours if not _setting_exists(n)) == []


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    containers: list[dict[str, Any]] = pod.get("containers", [])
    return containers


def test_setting_lookup_rejects_typos() -> None:
    assert _setting_exists("BOOKMARKAI_ML_BROKER__TLS_CA_FILE")
    assert _setting_exists("BOOKMARKAI_ML_DATABASE_URL")
    assert not _setting_exists("BOOKMARKAI_ML_BROKER__TLS_CA")
    assert not _setting_exists("BOOKMARKAI_ML_TELEMETRY_OTLP_ENDPOINT")
    assert _setting_exists("BOOKMARKAI_ML_TASKS__EMBED__METRICS_PORT")
    assert not _setting_exists("BOOKMARKAI_ML_TASKS__EMBED")
    assert not _setting_exists("BOOKMARKAI_ML_WORKER__METRICS_PORT_EMBED")  # deprecated
