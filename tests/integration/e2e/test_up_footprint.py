"""``up`` after many mixed jobs: small workers, no torch on the ONNX path, ready means loaded.

One ``bookmarkai-ml up`` on a fresh data directory (its own embedded Postgres, its own
ONNX export made by ``models prepare`` before any worker starts) and a fresh vhost runs
``BKML_FOOTPRINT_JOBS`` jobs (default 200, follow-ups included): summaries and embeddings
of text over HTTP and enrichments of the sample video. Then, for every process of the
tree, its PSS (``/proc/PID/smaps_rollup``) and whether libtorch is mapped; and, from
inside every pool child that ran a task (``support.modules_probe``), whether torch is in
``sys.modules`` and which model libraries were loaded before its first task. States are
asserted, never times; the figures (PSS per process, the first ``/v1/embeddings``
latency after ``/readyz``) are printed and written to ``$BKML_FOOTPRINT_REPORT`` if set.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import text

from bookmarkai_ml.db.embedded import embedded_url, stop_embedded
from bookmarkai_ml.db.engine import make_engine
from support import up

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

TESTS_DIR = Path(__file__).resolve().parents[2]
ARTICLE = (up.SAMPLES / "article.txt").read_text()
PSS_LIMIT_MB = 350


def _env(tmp_path: Path, amqp_url: str, media: str, api_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKMARKAI_ML_")}
    env.update(
        {
            "BOOKMARKAI_ML_DATA_DIR": str(tmp_path / "data"),  # fresh: no export, no server
            "BOOKMARKAI_ML_BROKER_URL": amqp_url,
            "BOOKMARKAI_ML_ENVIRONMENT": "test",
            "BOOKMARKAI_ML_API__PORT": str(api_port),
            "BOOKMARKAI_ML_API__RATE_LIMIT_PER_MINUTE": "100000",
            "BOOKMARKAI_ML_API__RATE_LIMIT_BURST": "100000",
            "BOOKMARKAI_ML_MEDIA__ALLOWED_HOSTS": f'["{media}"]',
            "BOOKMARKAI_ML_WORKER__PLUGINS": '["support.modules_probe"]',
            "BKML_PROBE_DIR": str(tmp_path / "probe"),
            "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), env.get("PYTHONPATH", "")]),
        }
    )
    for task in ("SUMMARIZE", "TRANSCRIBE", "EMBED"):
        env[f"BOOKMARKAI_ML_TASKS__{task}__METRICS_PORT"] = str(up.free_port())
    return env


def _pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no Pss in smaps_rollup of {pid}")


def _maps_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def _role(proc: psutil.Process, up_pid: int) -> str:
    argv = proc.cmdline()
    if proc.pid == up_pid:
        return "up"
    if "worker" in argv:
        queue = argv[argv.index("--queue") + 1] if "--queue" in argv else "?"
        parent_argv = proc.parent().cmdline() if proc.parent() else []
        return f"worker {queue} {'child' if 'worker' in parent_argv else 'parent'}"
    return " ".join(a for a in argv[-2:] if not a.startswith("-")) or proc.name()


def _submit_all(client: httpx.Client, media: str, total: int) -> list[str]:
    """``total`` jobs: an enrich is 3 (transcribe, then summarize and embed of the transcript)."""
    enrich = max(1, total // 20)
    rest = total - 3 * enrich
    bodies: list[dict[str, Any]] = []
    for i in range(enrich):
        media_url = f"http://{media}/briefing.mp4?n={i}"
        bodies.append({"share_id": f"v{i}", "task": "enrich", "input": {"media_url": media_url}})
    paragraphs = [p for p in ARTICLE.split("\n\n") if len(p) > 200]
    for i in range(rest):
        note = f"Note {i}. " + " ".join(paragraphs[j % len(paragraphs)] for j in range(i, i + 3))
        task = "summarize" if i % 2 else "embed"
        bodies.append({"share_id": f"t{i}", "task": task, "input": {"text": note}})
    ids: list[str] = []
    for body in bodies:
        resp = client.post("/api/ml/jobs", json=body)
        assert resp.status_code == 202, resp.text
        ids.extend(j["id"] for j in resp.json()["jobs"])
    return ids


def test_many_jobs_through_up_keep_workers_small_and_torch_free(
    tmp_path: Path, own_amqp_url: str, media_server: str
) -> None:
    total = int(os.environ.get("BKML_FOOTPRINT_JOBS", "200"))
    api_port = up.free_port()
    env = _env(tmp_path, own_amqp_url, media_server, api_port)
    (tmp_path / "probe").mkdir()
    data_dir = tmp_path / "data"
    proc = up.start_up(env, tmp_path / "up.log")
    base = f"http://127.0.0.1:{api_port}"
    report: dict[str, Any] = {"jobs_requested": total}
    try:
        with httpx.Client(base_url=base, timeout=120) as anon:
            while True:  # the API answers once migrations and `models prepare` are done
                assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
                with contextlib.suppress(httpx.TransportError):
                    if anon.get("/healthz").status_code == 200:
                        break
                time.sleep(0.2)
            key = up.create_key(env, "footprint")
            while (ready := anon.get("/readyz")).status_code != 200:
                assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
                assert ready.json()["checks"].get("embedder") in {"loading", "ok"}, ready.text
                time.sleep(0.05)
        # Ready means the embedder is loaded: the state, checked at the first 200.
        assert ready.json()["checks"]["embedder"] == "ok", ready.text
        client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=300
        )
        started = time.perf_counter()
        first = client.post(
            "/v1/embeddings", json={"model": "all-MiniLM-L6-v2", "input": "first request"}
        )
        report["first_embeddings_request_after_ready_s"] = round(time.perf_counter() - started, 3)
        assert first.status_code == 200, first.text

        ids = _submit_all(client, media_server, total)
        engine = make_engine(embedded_url(data_dir))
        deadline = time.monotonic() + 1500
        while True:
            with engine.connect() as conn:
                rows = conn.execute(text("SELECT status, count(*) FROM ml_jobs GROUP BY status"))
                counts = {str(s): int(n) for s, n in rows}
            if set(counts) <= up.TERMINAL and sum(counts.values()) >= len(ids):
                break
            assert proc.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
            assert time.monotonic() < deadline, counts
            time.sleep(2)
        engine.dispose()
        report["jobs"] = counts
        client.close()

        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        processes = [
            {
                "pid": p.pid,
                "role": _role(p, proc.pid),
                "pss_mb": round(_pss_mb(p.pid), 1),
                "libtorch_mapped": _maps_torch(p.pid),
            }
            for p in tree
        ]
        report["processes"] = processes
        report["total_pss_mb"] = round(sum(p["pss_mb"] for p in processes), 1)
        probes = [json.loads(f.read_text()) for f in (tmp_path / "probe").glob("*.json")]
        report["pool_children_probed"] = probes
        print(json.dumps(report, indent=2))
        if os.environ.get("BKML_FOOTPRINT_REPORT"):
            Path(os.environ["BKML_FOOTPRINT_REPORT"]).write_text(json.dumps(report, indent=2))

        assert counts == {"done": sum(counts.values())}, counts
        assert sum(counts.values()) >= total
        over = [p for p in processes if p["pss_mb"] > PSS_LIMIT_MB]
        assert not over, over
        assert not [p for p in processes if p["libtorch_mapped"]]
        assert {p["first_task"].rsplit(".", 1)[-1] for p in probes} >= {"summarize_content"}
        for probe in probes:
            assert probe["heavy"] == [], probe  # no torch, transformers in sys.modules
            assert probe["loaded_before_first_task"], probe  # ready only once loaded
            if "transcribe" in probe["first_task"]:
                assert "faster_whisper" in probe["loaded_before_first_task"], probe
            else:
                assert "onnxruntime" in probe["loaded_before_first_task"], probe
    finally:
        up.stop_up(proc)
        assert stop_embedded(data_dir)
