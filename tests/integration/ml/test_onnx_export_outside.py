"""The ONNX export runs in a child process: an embedder never loads torch, even on a cold cache."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_cold_cache_is_exported_in_a_child_and_this_process_stays_torch_free(
    tmp_path: Path,
) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from bookmarkai_ml.providers.embed_onnx import OnnxEmbedder\n"
        f"embedder = OnnxEmbedder(cache_dir=Path({str(tmp_path / 'onnx')!r}))\n"
        "assert embedder.embed(['hello']).shape == (1, 384)\n"
        "print(embedder.precision, 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=840
    )
    assert out.returncode == 0, out.stderr[-3000:]
    precision, torch_loaded, transformers_loaded = out.stdout.split()
    assert precision == "int8"
    assert (torch_loaded, transformers_loaded) == ("False", "False")
    assert list((tmp_path / "onnx").glob("*/model.int8.onnx"))
