"""``bookmarkai-ml process`` without a broker is one trace too, collected by a real OTLP receiver.

The local path has no Celery to open CONSUMER spans and no relay process: the command
opens a ``process`` span around the submission, the jobs store its ``traceparent``, and
the local broker continues it in a CONSUMER span per job, follow-up jobs included.
(Statements outside any job, such as the migrations, are traces of their own.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bookmarkai_ml.db.embedded import stop_embedded
from support.otlp_receiver import OtlpReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

TEXT = (
    "The city opened a new tram line on Monday. It links the station with the university "
    "in twelve minutes. Officials expect 20,000 riders a day by the end of the year. "
    "Cyclists asked for safer crossings along the route, and the council agreed to study it."
)


def test_a_local_process_run_is_one_trace(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOOKMARKAI_ML_", "OTEL_"))}
    env["BOOKMARKAI_ML_DATA_DIR"] = str(data)
    env["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"] = os.environ["BOOKMARKAI_ML_MODELS__ONNX_CACHE_DIR"]
    cli = Path(sys.executable).parent / "bookmarkai-ml"
    with OtlpReceiver() as receiver:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        try:
            proc = subprocess.run(
                [str(cli), "process", TEXT, "--json"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=540,
            )
        finally:
            stop_embedded(data)
        spans = receiver.spans()
    assert proc.returncode == 0, proc.stderr[-3000:]
    (root,) = [s for s in spans if s.name == "process"]
    trace = [s for s in spans if s.trace_id == root.trace_id]
    ids = {s.span_id for s in trace}
    assert all(s.parent_id in ids for s in trace if s is not root), "every parent is in the trace"
    consumers = [s for s in spans if s.kind == "CONSUMER"]
    assert {s.name for s in consumers} >= {"run/summarize", "run/embed"}
    assert all(s.trace_id == root.trace_id for s in consumers), "every job continues the trace"
    inference = [s for s in spans if s.name.startswith("inference.")]
    assert inference
    assert all(s.trace_id == root.trace_id for s in inference)
