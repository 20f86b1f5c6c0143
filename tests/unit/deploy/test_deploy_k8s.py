"""Kubernetes manifests: required fields, wiring, and one KEDA ScaledObject per worker."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from bookmarkai_ml.config import default_tasks
from bookmarkai_ml.contracts import TASKS

K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
NAMESPACE = "bookmarkai-ml"


def _of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def _pod(doc: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = doc["spec"]["template"]
    return pod


def _worker_queue(deployment: dict[str, Any]) -> str | None:
    args = _pod(deployment)["spec"]["containers"][0].get("args", [])
    return str(args[2]) if args[:2] == ["worker", "--queue"] else None


def test_every_object_has_the_required_fields(k8s_docs: list[dict[str, Any]]) -> None:
    assert k8s_docs
    keys = Counter((d["kind"], d["metadata"]["name"]) for d in k8s_docs)
    assert [k for k, n in keys.items() if n > 1] == [], "duplicate objects"
    for doc in k8s_docs:
        where = f"{doc['_file']}: {doc.get('kind')}"
        assert doc.get("apiVersion"), where
        assert doc["metadata"].get("name"), where
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, where


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.template.yaml"}


def test_workloads_are_wired_to_config_secret_and_image(k8s_docs: list[dict[str, Any]]) -> None:
    configmaps = {d["metadata"]["name"] for d in _of_kind(k8s_docs, "ConfigMap")}
    secrets = {d["metadata"]["name"] for d in _of_kind(k8s_docs, "Secret")}
    workloads = _of_kind(k8s_docs, "Deployment") + _of_kind(k8s_docs, "Job")
    assert len(workloads) >= 1 + 1 + 1 + len(TASKS)  # migrate, api, relay, workers
    for doc in workloads:
        name = doc["metadata"]["name"]
        selector = doc["spec"].get("selector", {}).get("matchLabels", {})
        labels = _pod(doc)["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{name}: selector does not match pods"
        pod_spec = _pod(doc)["spec"]
        assert pod_spec["securityContext"]["runAsNonRoot"] is True, name
        for container in pod_spec["containers"]:
            assert container["name"], name
            assert container["image"] == "bookmarkai-ml", f"{name}: kustomize sets the tag"
            refs = container["envFrom"]
            assert {r["configMapRef"]["name"] for r in refs if "configMapRef" in r} <= configmaps
            assert {r["secretRef"]["name"] for r in refs if "secretRef" in r} <= secrets


def test_services_select_pods_and_named_ports(k8s_docs: list[dict[str, Any]]) -> None:
    deployments = _of_kind(k8s_docs, "Deployment")
    for service in _of_kind(k8s_docs, "Service"):
        selector = service["spec"]["selector"]
        matches = [
            d for d in deployments if selector.items() <= _pod(d)["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, f"service {service['metadata']['name']} selects {matches}"
        port_names = {
            p["name"] for c in _pod(matches[0])["spec"]["containers"] for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_one_worker_deployment_per_queue_with_seed_metrics_ports(
    k8s_docs: list[dict[str, Any]],
) -> None:
    workers = {queue: d for d in _of_kind(k8s_docs, "Deployment") if (queue := _worker_queue(d))}
    assert set(workers) == set(TASKS.queues)
    defaults = default_tasks()
    for task, row in TASKS.items():
        port = defaults[task].metrics_port
        pod = _pod(workers[row.queue])
        (container,) = pod["spec"]["containers"]
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
        # Graceful shutdown must outlast the task's hard time limit.
        limit = defaults[task].time_limit_s
        assert pod["spec"]["terminationGracePeriodSeconds"] > limit


def test_one_scaled_object_per_worker_on_its_queue_length(k8s_docs: list[dict[str, Any]]) -> None:
    workers = {
        d["metadata"]["name"]: q
        for d in _of_kind(k8s_docs, "Deployment")
        if (q := _worker_queue(d))
    }
    scaled = _of_kind(k8s_docs, "ScaledObject")
    targets = Counter(s["spec"]["scaleTargetRef"]["name"] for s in scaled)
    assert dict(targets) == dict.fromkeys(workers, 1), "exactly one ScaledObject per worker"
    auths = {d["metadata"]["name"]: d for d in _of_kind(k8s_docs, "TriggerAuthentication")}
    (secret,) = _of_kind(k8s_docs, "Secret")
    for obj in scaled:
        assert obj["apiVersion"] == "keda.sh/v1alpha1"
        spec = obj["spec"]
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "rabbitmq"
        meta = trigger["metadata"]
        assert meta["mode"] == "QueueLength"
        assert meta["queueName"] in TASKS.queues
        assert meta["queueName"] == workers[spec["scaleTargetRef"]["name"]]
        assert float(meta["value"]) > 0
        assert "host" not in meta, "credentials belong in the TriggerAuthentication"
        auth = auths[trigger["authenticationRef"]["name"]]
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["name"] == secret["metadata"]["name"]
            assert ref["key"] in secret["stringData"]
