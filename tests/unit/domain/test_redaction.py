"""domain.redaction: content blanked by an allow-list, the shape kept."""

from __future__ import annotations

from bookmarkai_ml.domain.redaction import blank, blank_error


def test_a_task_payload_keeps_its_ids_and_loses_its_content() -> None:
    payload = {
        "schema_version": 1,
        "job_id": "j-1",
        "tenant_id": "t",
        "share_id": "s",
        "task": "summarize",
        "content": "secret text",
        "options": {"style": "bullets", "target_words": 120, "vocabulary": ["Secret Name"]},
        "segments": [{"start": 0.0, "end": 1.5, "text": "secret"}],
    }
    assert blank(payload) == {
        "schema_version": 1,
        "job_id": "j-1",
        "tenant_id": "t",
        "share_id": "s",
        "task": "summarize",
        "content": "",
        "options": {"style": "", "target_words": 120, "vocabulary": []},
        "segments": [],
    }


def test_a_completion_event_stays_a_cloudevent_without_its_result() -> None:
    event = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/bookmarkai-ml",
        "type": "ai.bookmarkai.ml.job.done",
        "subject": "s",
        "time": "2026-11-30T00:00:00Z",
        "tenantid": "t",
        "data": {
            "id": "j-1",
            "status": "done",
            "then": ["embed"],
            "error": {"code": "x", "message": "quotes secret"},
            "result": {"summary": "secret", "tags": ["secret"], "duration_s": 3.5},
        },
    }
    out = blank(event)
    assert {k: out[k] for k in ("specversion", "id", "type", "subject", "tenantid")} == {
        "specversion": "1.0",
        "id": "e-1",
        "type": "ai.bookmarkai.ml.job.done",
        "subject": "s",
        "tenantid": "t",
    }
    assert out["data"]["then"] == ["embed"]
    assert out["data"]["error"] == {"code": "x", "message": ""}
    assert out["data"]["result"] == {"summary": "", "tags": [], "duration_s": 3.5}
    assert "secret" not in repr(out)


def test_an_error_message_keeps_only_its_leading_code() -> None:
    assert blank_error("contract_violation: content 'secret' too short") == "contract_violation"
    assert blank_error("delivery_limit (queue ml.transcribe)") == "erased"
    assert blank_error(None) is None
