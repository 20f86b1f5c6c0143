"""The CLI reads the settings once, in the root command, and turns bad ones into exit 2."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from bookmarkai_ml.cli import common
from bookmarkai_ml.cli.main import app
from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType


class _Counted(Settings):
    made: ClassVar[int] = 0

    def __init__(self, **values: Any) -> None:
        type(self).made += 1
        super().__init__(**values)


def test_a_command_gets_the_settings_the_root_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOOKMARKAI_ML_BROKER_URL", raising=False)
    monkeypatch.setattr(common, "Settings", _Counted)
    result = CliRunner().invoke(app, ["up"])  # refuses at once without a broker URL
    assert result.exit_code == 2, result.output
    assert "BOOKMARKAI_ML_BROKER_URL" in result.output
    assert _Counted.made == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("BOOKMARKAI_ML_ENVIRONMENT", "nowhere"), ("BOOKMARKAI_ML_BROKER_URL", "http://x")],
)
def test_invalid_settings_are_a_clean_usage_error(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["up"])
    assert result.exit_code == 2
    assert "configuration error" in result.output
    assert "Traceback" not in result.output


def test_a_deprecated_setting_name_is_reported_and_still_applied(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BOOKMARKAI_ML_BROKER_URL", raising=False)
    monkeypatch.setenv("BOOKMARKAI_ML_WORKER__METRICS_PORT_EMBED", "9999")
    made: list[Settings] = []

    class _Kept(Settings):
        def __init__(self, **values: Any) -> None:
            super().__init__(**values)
            made.append(self)

    monkeypatch.setattr(common, "Settings", _Kept)
    result = CliRunner().invoke(app, ["up"])
    assert "deprecated setting" in result.output
    assert "BOOKMARKAI_ML_TASKS__EMBED__METRICS_PORT" in result.output
    assert made[0].tasks[TaskType.EMBED].metrics_port == 9999
