"""The shipped rabbitmq.conf carries the design defaults and agrees with the settings."""

from __future__ import annotations

from pathlib import Path

from bookmarkai_ml.config import WorkerSettings

CONF = Path(__file__).parents[3] / "deploy" / "rabbitmq" / "rabbitmq.conf"


def _conf() -> dict[str, str]:
    pairs: dict[str, str] = {}
    for line in CONF.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            pairs[key.strip()] = value.strip()
    return pairs


def test_seed_memory_and_disk_limits() -> None:
    conf = _conf()
    assert conf["vm_memory_high_watermark.relative"] == "0.6"
    assert conf["disk_free_limit.absolute"] == "5GB"


def test_consumer_timeout_matches_the_worker_settings() -> None:
    assert int(_conf()["consumer_timeout"]) == WorkerSettings().consumer_timeout_s * 1000


def test_no_deprecated_environment_variables_are_needed() -> None:
    text = CONF.read_text()
    assert "default_user" in _conf()
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            assert "RABBITMQ_" not in line
