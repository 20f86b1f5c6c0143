"""Schemathesis over the whole API, as its CLI runs it: every check, every phase.

The app is served by a real uvicorn on 127.0.0.1 and ``schemathesis run`` drives it with
``--phases examples,coverage,fuzzing,stateful`` and every check (``schemathesis.toml``,
beside this file, with its exceptions and why): the schema's own examples,
the coverage phase's boundary and negative values, property-based fuzzing, and stateful
sequences that follow the schema's links (submit a job, then read, cancel, retry it).
Requests carry a valid key so the runs reach the routes behind auth.

Bounded (``--max-examples``, a fixed seed) so it takes about a minute. The one 5xx the API
may answer is 503 ``not_configured`` (a collaborator this build lacks); no route here
lacks one, so any 5xx fails the run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from bookmarkai_ml.api import create_app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.services.search import SearchService
from support.api import HashEmbedder, MakeKey
from support.harness import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PHASES = "examples,coverage,fuzzing,stateful"
MAX_EXAMPLES = 12
SEED = 20261130


@pytest.fixture
def served(api_settings: Settings, clean_db: Engine) -> Iterator[str]:
    """The API on a real uvicorn; yields its base URL and stops it afterwards."""
    roomy = api_settings.api.model_copy(update={"rate_limit_burst": 100_000})
    app_settings = api_settings.model_copy(update={"api": roomy})
    hashed = HashEmbedder()

    def search_factory() -> SearchService:  # no model load: this is about the HTTP layer
        return SearchService(embedder_for_model=lambda _m: hashed, default_model=hashed.model)

    app = create_app(
        app_settings,
        engine=clean_db,
        embedder_factory=HashEmbedder,
        search_factory=search_factory,
        background=[],
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="uvicorn-schemathesis", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.05)
        assert httpx.get(f"{base}/healthz").status_code == 200
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _schemathesis() -> str:
    found = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert found, "schemathesis is a dev dependency (pyproject.toml)"
    return found


def _failures(output: str) -> str:
    """The failure headlines and their reproductions, each line cut short (bodies can be
    megabytes of generated text)."""
    keep = [
        line[:300] for line in output.splitlines() if line.strip()[:2] in ("- ", "cu", "[4", "[5")
    ]
    return "\n".join(keep[-200:] + output.splitlines()[-25:])


def test_schemathesis_finds_no_failure(served: str, make_key: MakeKey, tmp_path: Path) -> None:
    key = make_key()
    report = tmp_path / "schemathesis.ndjson"
    command = [
        _schemathesis(),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        f"{served}/openapi.json",
        "--phases",
        PHASES,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--header",
        f"Authorization: Bearer {key}",
        "--workers",
        "1",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(report),
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    done = subprocess.run(  # in tmp_path: schemathesis keeps a cache in its working dir
        command, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path
    )
    output = done.stdout + done.stderr
    Path(os.environ.get("SCHEMATHESIS_LOG", tmp_path / "schemathesis.log")).write_text(output)
    assert done.returncode == 0, _failures(output)
    # The run really exercised every phase (a phase that was skipped is not a pass).
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅  {phase}" in output, output[-5_000:]
    scenarios = re.search(r"Scenarios:\s+(\d+)", output)
    links = re.search(r"API Links:\s+(\d+) covered", output)
    assert scenarios, output[-5_000:]
    assert int(scenarios.group(1)) > 0, output[-5_000:]
    assert links, output[-5_000:]
    assert int(links.group(1)) > 0, output[-5_000:]
