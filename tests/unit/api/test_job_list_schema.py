"""``JobBrief`` is ``JobPublic`` without the result; ``JobState`` is every job state."""

from __future__ import annotations

from bookmarkai_ml.api.schemas.job_list import JobBrief, JobState
from bookmarkai_ml.api.schemas.jobs import JobPublic
from bookmarkai_ml.db.models import JobStatus


def test_a_brief_has_every_public_field_but_the_result() -> None:
    assert set(JobBrief.model_fields) == set(JobPublic.model_fields) - {"result"}
    for name, brief in JobBrief.model_fields.items():
        assert brief.annotation == JobPublic.model_fields[name].annotation, name


def test_the_state_filter_names_every_job_state() -> None:
    assert [s.value for s in JobState] == list(JobStatus.ALL)
