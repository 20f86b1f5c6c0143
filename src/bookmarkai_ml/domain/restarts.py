"""When ``up`` restarts a component that died: a process manager's policy, with no I/O.

The delay doubles from ``backoff.initial`` up to ``backoff.maximum`` while a component
keeps dying, and starts over once a run lasted ``stable_s``. A component that died
``burst`` times in a row, each within ``quick_s`` of its start, is given up on (a broken
configuration, not a crash): systemd's ``StartLimitBurst`` idea.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bookmarkai_ml.domain.backoff import Backoff


@dataclass(slots=True)
class RestartPolicy:
    """Tracks one component's deaths; ``on_exit`` says how long to wait before a restart."""

    backoff: Backoff = field(default_factory=lambda: Backoff(initial=1.0, maximum=30.0))
    stable_s: float = 60.0
    quick_s: float = 5.0
    burst: int = 5
    failures: int = 0
    quick_failures: int = 0

    def on_exit(self, *, ran_s: float) -> float | None:
        """The delay before restarting a component that ran ``ran_s`` seconds; None to give up."""
        if ran_s >= self.stable_s:
            self.failures = 0
        self.quick_failures = self.quick_failures + 1 if ran_s < self.quick_s else 0
        if self.quick_failures >= self.burst:
            return None
        self.failures += 1
        return self.backoff.nominal(self.failures)
