"""The chaos soak at CI size (issue 11): about 3 minutes of mixed load through ``up`` on
real services while every fault kind is injected at least once, then the account.

The same implementation as ``bench/soak.py`` (``tests/support/soak/``). Nothing accepted
may be lost or finished twice, no outbox row may stay unsent, no lease held, and the
budget ledger must balance. The soak stops every process it started and restores its
private broker (``start_app``, the memory watermark) however the run ends.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

import pytest

from support.harness import RABBITMQ_BIN
from support.rabbit_nodes import unavailable
from support.soak import runner
from support.soak.faults import KINDS
from support.soak.report import table

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

#: One more fault than kinds: every kind once, and one chosen by the seed.
CONFIG = runner.SoakConfig(minutes=3, seed=11, rate=3.0, faults=len(KINDS) + 1, each=1)


def test_soak_holds_every_invariant_under_every_fault(tmp_path: Path) -> None:
    for tool in ("espeak-ng", "ffmpeg"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")
    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        unavailable("rabbitmq-server is not installed (a private node is started)")

    # Not under pytest's tmp_path: every pytest session that starts on the machine resets
    # /tmp/pytest-of-<user> to mode 0700, and the embedded server (its own system user
    # when run as root) then can no longer reach its data directory.
    with tempfile.TemporaryDirectory(prefix="bookmarkai-soak-") as tmp:
        try:
            result = runner.run(CONFIG, Path(tmp))
        finally:  # up's log outlives the run, for whoever reads a failure
            with contextlib.suppress(OSError):
                shutil.copy(Path(tmp) / "up.log", tmp_path / "up.log")

    broken = runner.broken(result, min_faults=len(KINDS), each=1)
    log = f"\nup's log: {tmp_path / 'up.log'}"
    assert not broken, table(result, broken) + "\n".join(result["fault_log"]) + log
    assert result["accepted"] > 0
    assert result["done"] > 0
