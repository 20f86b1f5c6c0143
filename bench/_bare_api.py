"""The submission floor: a bare FastAPI + SQLAlchemy endpoint doing our two inserts.

    python bench/_bare_api.py PORT      (settings from the BOOKMARKAI_ML_* environment)

``POST /api/ml/jobs`` parses the same body into a pydantic model and writes one ``ml_jobs``
row and one ``ml_outbox`` row (our ORM models, our engine, one transaction) in the same
database, served by uvicorn exactly as ``bookmarkai-ml api`` serves ours (same call, same
logging set-up, same access log). No authentication, rate limit, idempotency lookup,
middleware, tracing or relay: what the platform adds is what the bench measures.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, status
from pydantic import BaseModel

from bookmarkai_ml import bootstrap
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TASKS
from bookmarkai_ml.db.models import Job, JobStatus, OutboxRow
from bookmarkai_ml.observability.logging import configure_logging

TENANT = "bare"


class Body(BaseModel):
    share_id: str
    task: str
    input: dict[str, Any]
    options: dict[str, Any] = {}


def make_app(settings: Settings) -> FastAPI:
    sessions = bootstrap.database(settings).sessions
    spec = TASKS.spec("summarize")
    app = FastAPI()

    @app.post("/api/ml/jobs", status_code=status.HTTP_202_ACCEPTED)
    def submit(body: Body) -> dict[str, str]:
        job_id = uuid.uuid4()
        payload = {"share_id": body.share_id, "content": body.input.get("text", "")}
        with sessions.begin() as session:
            session.add(
                Job(id=job_id, tenant_id=TENANT, share_id=body.share_id, task="summarize",
                    status=JobStatus.QUEUED, idempotency_key=uuid.uuid4().hex, payload=payload,
                    then=[])
            )  # fmt: skip
            session.flush()  # the outbox row references the job
            session.add(
                OutboxRow(job_id=job_id, routing_key=spec.queue, task_name=spec.celery_name,
                          kwargs=payload, headers={"id": str(uuid.uuid4())})
            )  # fmt: skip
        return {"id": str(job_id), "status": "queued"}

    return app


def main() -> None:
    settings = Settings()
    configure_logging(settings.telemetry)
    uvicorn.run(
        make_app(settings),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level=settings.telemetry.log_level.lower(),
        log_config=None,
        server_header=False,
    )


if __name__ == "__main__":
    main()
