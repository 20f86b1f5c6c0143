"""JSON Schema files for every contract, committed under ``contracts/`` at the repo root.

A TypeScript producer generates zod validators from them (e.g. json-schema-to-zod);
``tests/unit/contracts`` fails when a file and its model drift apart.
Regenerate with ``bookmarkai-ml contracts export``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bookmarkai_ml.contracts.messages import (
    SCHEMA_VERSION,
    EmbedTask,
    SummarizeTask,
    TranscribeTask,
)
from bookmarkai_ml.contracts.results import EmbedResult, SummaryResult, TranscriptResult

CONTRACTS: dict[str, type[BaseModel]] = {
    "summarize_task": SummarizeTask,
    "transcribe_task": TranscribeTask,
    "embed_task": EmbedTask,
    "summary_result": SummaryResult,
    "transcript_result": TranscriptResult,
    "embed_result": EmbedResult,
}


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema document for each contract."""
    docs = {}
    for name, model in CONTRACTS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://bookmarkai.dev/contracts/v{SCHEMA_VERSION}/{name}.json"
        docs[f"{name}.v{SCHEMA_VERSION}.schema.json"] = schema
    return docs


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def export(directory: Path) -> list[Path]:
    """Write every schema file into ``directory``; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, schema in schema_documents().items():
        path = directory / filename
        path.write_text(render(schema))
        written.append(path)
    return written
