"""``fakes.py`` has a fake for every ``Protocol`` in ``ports.py``, and each fake works.

A port is matched to ``fakes.Fake<Port>`` by name and then checked structurally: every
member of the port exists on a fake built with no arguments, and every method takes the
same parameters (names, kinds, ``async``) as the port's; a fake may add optional ones.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from bookmarkai_ml import fakes, ports
from bookmarkai_ml.contracts import SummarizeOptions
from bookmarkai_ml.errors import BrokerUnavailableError, BudgetExceededError, InvalidInputError


def _port_classes() -> list[type[Any]]:
    """Every ``Protocol`` class defined in ``ports.py``."""
    return [
        cls
        for _, cls in inspect.getmembers(ports, inspect.isclass)
        if cls.__module__ == ports.__name__ and getattr(cls, "_is_protocol", False)
    ]


def _members(port: type[Any]) -> set[str]:
    """The public names a port declares: its methods and its annotated attributes."""
    names: set[str] = set()
    for klass in port.__mro__:
        if klass is not Protocol and getattr(klass, "_is_protocol", False):
            names |= set(vars(klass)) | set(vars(klass).get("__annotations__", {}))
    return {name for name in names if not name.startswith("_")}


def _signature_gaps(declared: Callable[..., Any], bound: Callable[..., Any]) -> list[str]:
    """How the bound method ``bound`` takes other parameters than the port's ``declared``."""
    want = dict(list(inspect.signature(declared).parameters.items())[1:])  # without self
    have = inspect.signature(bound).parameters
    gaps = [
        f"parameter {name!r} missing or of another kind"
        for name, param in want.items()
        if name not in have or have[name].kind != param.kind
    ]
    gaps += [
        f"extra parameter {name!r} without a default"
        for name, param in have.items()
        if name not in want
        and param.default is inspect.Parameter.empty
        and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
    ]
    if inspect.iscoroutinefunction(declared) != inspect.iscoroutinefunction(bound):
        gaps.append("async in one and not the other")
    return gaps


def _conformance_gaps(port: type[Any], fake: object) -> list[str]:
    gaps: list[str] = []
    for name in sorted(_members(port)):
        if not hasattr(fake, name):
            gaps.append(f"{name}: missing")
            continue
        declared = getattr(port, name, None)
        if inspect.isfunction(declared):
            gaps += [f"{name}: {gap}" for gap in _signature_gaps(declared, getattr(fake, name))]
    if getattr(port, "_is_runtime_protocol", False) and not isinstance(fake, port):
        gaps.append("isinstance() with the runtime-checkable port is False")
    return gaps


PORTS = _port_classes()


def test_ports_are_found() -> None:
    names = {p.__name__ for p in PORTS}
    assert {"Publisher", "MediaStore", "Transcriber", "Embedder", "JobContext"} <= names


@pytest.mark.parametrize("port", PORTS, ids=lambda p: p.__name__)
def test_every_port_has_a_conforming_fake(port: type[Any]) -> None:
    fake_class = getattr(fakes, f"Fake{port.__name__}", None)
    assert fake_class is not None, f"fakes.py has no Fake{port.__name__} for ports.{port.__name__}"
    gaps = _conformance_gaps(port, fake_class())
    assert not gaps, f"fakes.Fake{port.__name__} does not implement ports.{port.__name__}: {gaps}"


def test_the_conformance_check_catches_a_drifted_fake() -> None:
    class Drifted:
        async def publish(self, message: object, extra: int) -> None: ...

    class Blocking:
        def publish(self, message: object) -> None: ...

    assert _conformance_gaps(ports.Publisher, Drifted())
    assert _conformance_gaps(ports.Publisher, Blocking())
    assert _conformance_gaps(ports.Embedder, object())


# The fakes at work.


def test_fake_publisher_records_and_fails_on_request() -> None:
    publisher = fakes.FakePublisher()
    message = ports.OutgoingMessage("ml.embed", b"{}", {}, "m-1")
    asyncio.run(publisher.publish(message))
    publisher.fail_with_outage()
    with pytest.raises(BrokerUnavailableError):
        asyncio.run(publisher.publish(message))
    assert publisher.published == [message]


def test_fake_media_store_round_trips_and_refuses_unknown_uris(tmp_path: Path) -> None:
    store = fakes.FakeMediaStore()
    source = tmp_path / "in.bin"
    source.write_bytes(b"media")
    uri = store.put("a/b.bin", source)
    assert store.fetch(uri, tmp_path / "out.bin").read_bytes() == b"media"
    with pytest.raises(InvalidInputError):
        store.fetch("fake://missing", tmp_path / "x")


def test_fake_transcriber_returns_its_script(tmp_path: Path) -> None:
    transcriber = fakes.FakeTranscriber("Hello there. General Kenobi.", language="en")
    out = transcriber.transcribe(tmp_path / "a.wav", language=None, word_timestamps=True)
    assert out.text == "Hello there. General Kenobi."
    assert [s.text for s in out.segments] == ["Hello there.", "General Kenobi."]
    assert out.segments[1].start == 2.0
    assert out.segments[0].words is not None
    assert [w.word for w in out.segments[0].words] == ["Hello", "there."]
    assert out.language == "en"
    assert transcriber.calls == [tmp_path / "a.wav"]


def test_fake_summarizer_takes_the_first_sentence() -> None:
    summarizer = fakes.FakeSummarizer(usd_per_token=Decimal("0.001"))
    text = "Vectors rank bookmarks. Vectors are normalised. Bookmarks are saved pages."
    summary = summarizer.summarize(text, SummarizeOptions())
    assert summary.summary == "Vectors rank bookmarks."
    assert summary.key_points[1] == "Vectors are normalised."
    assert summary.tags[:2] == ["bookmarks", "vectors"]
    assert summary.input_tokens > summary.output_tokens > 0
    assert summarizer.estimate_cost_usd(text, SummarizeOptions()) > 0


def test_fake_embedder_is_deterministic_and_normalised() -> None:
    embedder = fakes.FakeEmbedder(dimension=32)
    vectors = embedder.embed(["red apples", "red apples", "green apples", "", "tax law"])
    assert vectors.shape == (5, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    assert (vectors[0] == vectors[1]).all()
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[4]
    assert embedder.count_tokens("four words in here") > 0


def test_fake_budget_ledger_and_job_context_hold_the_limit() -> None:
    ledger = fakes.FakeBudgetLedger(limit_usd=Decimal(1))
    context = fakes.FakeJobContext(ledger=ledger, task="summarize")
    context.reserve(Decimal("0.6"))
    context.heartbeat()
    with pytest.raises(BudgetExceededError):
        fakes.FakeJobContext(ledger=ledger, task="summarize").reserve(Decimal("0.6"))
    ledger.release(job_id=context.job_id)
    assert ledger.released == [context.job_id]
    assert context.reserved == [Decimal("0.6")]
    assert context.heartbeats == 1
