"""``Lazy.preload`` and what ``/readyz`` learns from it."""

from __future__ import annotations

import threading

from bookmarkai_ml.api.context import Lazy
from bookmarkai_ml.errors import ConfigurationError


def test_not_preloaded_is_no_readiness_check() -> None:
    lazy = Lazy("model", lambda: 1)
    assert lazy.readiness() is None
    assert lazy.get() == 1
    assert lazy.readiness() is None  # built on demand: /readyz never waited for it


def test_loading_then_ok() -> None:
    release = threading.Event()

    def build() -> int:
        release.wait(10)
        return 7

    lazy = Lazy("model", build)
    thread = threading.Thread(target=lazy.preload)
    thread.start()
    while lazy.readiness() is None:
        threading.Event().wait(0.001)
    assert lazy.readiness() == "loading"
    release.set()
    thread.join()
    assert lazy.readiness() == "ok"
    assert lazy.get() == 7


def test_a_failed_load_is_its_error_code() -> None:
    def build() -> int:
        raise ConfigurationError("no model", code="model_unavailable")

    lazy = Lazy("model", build)
    lazy.preload()
    assert lazy.readiness() == "model_unavailable"
