"""The committed JSON Schema files equal the pydantic models."""

from __future__ import annotations

import json
from pathlib import Path

from bookmarkai_ml.contracts.schemas import render, schema_documents

CONTRACTS_DIR = Path(__file__).resolve().parents[3] / "contracts"


def test_committed_schemas_match_models() -> None:
    expected = schema_documents()
    committed = {p.name for p in CONTRACTS_DIR.glob("*.schema.json")}
    assert committed == set(expected), "run `bookmarkai-ml contracts export`"
    for name, schema in expected.items():
        assert (CONTRACTS_DIR / name).read_text() == render(schema), f"{name} drifted"


def test_schemas_carry_schema_version() -> None:
    for name, schema in schema_documents().items():
        if name.endswith("_task.v1.schema.json"):
            assert schema["properties"]["schema_version"]["const"] == 1
            assert "share_id" in schema["required"]
            json.dumps(schema)
