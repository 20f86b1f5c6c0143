"""A worker plugin for tests: each process that runs tasks records what it has imported.

Named in ``worker.plugins`` (as ``support.handlers`` is), so it loads in the worker and,
through the fork, in every pool child; it registers no handler, only two Celery signal
receivers. With ``BKML_PROBE_DIR`` set, a child writes ``<pid>.json`` there: the heavy
modules present before its first task (so a test sees the model was loaded before the
child took a job) and, after each task, whether torch or transformers are imported.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from celery import signals

#: The libraries that mean "a model is loaded": ONNX Runtime (MiniLM), spaCy, CTranslate2.
MODEL_MODULES = ("onnxruntime", "spacy", "faster_whisper", "ctranslate2")
HEAVY = ("torch", "transformers", "sentence_transformers")

_state: dict[str, Any] = {}


def _write() -> None:
    out = os.environ.get("BKML_PROBE_DIR")
    if not out:
        return
    path = Path(out) / f"{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(_state))
    tmp.replace(path)


def _before(sender: Any = None, **_: Any) -> None:
    if _state.get("pid") != os.getpid():  # the first task of this process
        _state.clear()
        _state.update(
            pid=os.getpid(),
            ppid=os.getppid(),
            first_task=getattr(sender, "name", "?"),
            loaded_before_first_task=[m for m in MODEL_MODULES if m in sys.modules],
            tasks=0,
        )


def _after(**_: Any) -> None:
    _state["tasks"] = int(_state.get("tasks", 0)) + 1
    _state["heavy"] = [m for m in HEAVY if m in sys.modules]
    _write()


signals.task_prerun.connect(_before, weak=False, dispatch_uid="bkml_test_probe_before")
signals.task_postrun.connect(_after, weak=False, dispatch_uid="bkml_test_probe_after")
