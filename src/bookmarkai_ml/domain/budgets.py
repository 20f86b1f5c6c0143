"""Budget math over rolling windows: will a reservation fit, and when may it retry?

Pure: the ledger (``services/budgets.py``) reads spend and held reservations from
Postgres under a lock and asks these functions. Windows come in scopes: the global
ones (``settings.tasks``) count the whole platform's spend, a tenant's own
(``ml_budget_limits``) count only that tenant's; a job must fit every scope.
A window is rolling: the spend that counts is what was recorded in the last
``seconds``. Held reservations count in full while unexpired, as spend that happens
*now* — so the time at which a refused job may retry is when enough of
(spend + held) has aged out of the window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from bookmarkai_ml.contracts import TaskType

if TYPE_CHECKING:
    from bookmarkai_ml.config import TaskSettings

HOUR = 3600
DAY = 86400
#: The longest window a tenant may set (a year): spend older than that is never read.
MAX_WINDOW_S = 366 * DAY
_UNITS = {"s": 1, "m": 60, "h": HOUR, "d": DAY}


@dataclass(frozen=True, slots=True)
class Window:
    """A rolling budget window: at most ``limit_usd`` spent in any ``seconds``."""

    name: str
    seconds: int
    limit_usd: Decimal

    @property
    def span(self) -> timedelta:
        return timedelta(seconds=self.seconds)


def parse_window(text: str) -> int:
    """``1h``, ``1d``, ``30m``, ``90s``, plain seconds (``3600``), or a name that
    ``window_name`` gives (``hour``, ``day``) -> seconds.

    Raises:
        ValueError: not a positive duration up to ``MAX_WINDOW_S``.
    """
    raw = text.strip().lower()
    raw = {"hour": "1h", "day": "1d"}.get(raw, raw)
    unit = _UNITS.get(raw[-1:], 0) if raw else 0
    number = raw[:-1] if unit else raw
    if not number.isdigit():
        raise ValueError(f"window {text!r} is not 1h, 1d, 30m, 90s or a number of seconds")
    seconds = int(number) * (unit or 1)
    if not 0 < seconds <= MAX_WINDOW_S:
        raise ValueError(f"window must be 1 s to {MAX_WINDOW_S // DAY} days, not {text!r}")
    return seconds


def window_name(seconds: int) -> str:
    """``hour`` and ``day`` (the names of the global windows), else the largest whole
    unit: ``7d``, ``6h``, ``30m``, ``90s``."""
    if seconds == HOUR:
        return "hour"
    if seconds == DAY:
        return "day"
    for unit, size in (("d", DAY), ("h", HOUR), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def windows_for(task: str, limits: Mapping[TaskType, TaskSettings]) -> list[Window]:
    """The windows that apply to ``task`` (``transcribe``, ``summarize``, ``embed``),
    from ``settings.tasks``; none for a task that has no limits there."""
    try:
        own = limits[TaskType(task)]
    except (ValueError, KeyError):
        return []
    return [Window("hour", HOUR, own.per_hour_usd), Window("day", DAY, own.per_day_usd)]


@dataclass(frozen=True, slots=True)
class Spend:
    """One amount counted against a window, at the time it was recorded."""

    at: datetime
    usd: Decimal


@dataclass(frozen=True, slots=True)
class WindowState:
    """What a window holds now: recorded spend in it, and held reservations."""

    window: Window
    spent: Decimal
    reserved: Decimal

    @property
    def remaining(self) -> Decimal:
        return max(Decimal(0), self.window.limit_usd - self.spent - self.reserved)

    def fits(self, usd: Decimal) -> bool:
        return self.spent + self.reserved + usd <= self.window.limit_usd


def state(window: Window, spend: Sequence[Spend], reserved: Decimal, now: datetime) -> WindowState:
    """Sum the spend of ``spend`` that falls in ``window`` ending at ``now``."""
    since = now - window.span
    spent = sum((s.usd for s in spend if s.at > since), Decimal(0))
    return WindowState(window, spent, reserved)


def retry_after(
    window: Window, spend: Sequence[Spend], reserved: Decimal, usd: Decimal, now: datetime
) -> datetime:
    """The earliest time at which ``usd`` more would fit in ``window``.

    Spend leaves the window oldest first; held reservations are treated as spend at
    ``now`` (they settle soon and then count for a full window). If ``usd`` alone is
    over the limit it never fits; the answer is then one window from now, so a
    retried job is refused again rather than spinning.
    """
    since = now - window.span
    events = sorted((s for s in spend if s.at > since), key=lambda s: s.at)
    if reserved > 0:
        events.append(Spend(now, reserved))
    excess = sum((e.usd for e in events), Decimal(0)) + usd - window.limit_usd
    if excess <= 0:
        return now
    if usd > window.limit_usd:
        return now + window.span
    freed = Decimal(0)
    for event in events:
        freed += event.usd
        if freed >= excess:
            return event.at + window.span
    return now + window.span  # pragma: no cover - excess <= total by construction


def resets_at(window: Window, spend: Sequence[Spend], now: datetime) -> datetime | None:
    """When the oldest spend in the window leaves it (``None`` when nothing is spent)."""
    since = now - window.span
    in_window = [s.at for s in spend if s.at > since]
    return min(in_window) + window.span if in_window else None


@dataclass(frozen=True, slots=True)
class Scope:
    """The windows of one scope (the platform, or one tenant) with that scope's spend
    and held reservations: a window only counts the spend of its own scope."""

    name: str
    windows: Sequence[Window]
    spend: Sequence[Spend]
    held: Decimal


@dataclass(frozen=True, slots=True)
class Refusal:
    """The window that refuses a reservation, and when the reservation would fit."""

    scope: str
    window: Window
    retry_after: datetime


def refusal(scopes: Sequence[Scope], usd: Decimal, now: datetime) -> Refusal | None:
    """``None`` if ``usd`` fits every window of every scope; else the refusing window
    that frees up last (a job fits only once every window has room, and room in one
    window never shrinks another's)."""
    worst: Refusal | None = None
    for scope in scopes:
        for window in scope.windows:
            if state(window, scope.spend, scope.held, now).fits(usd):
                continue
            at = retry_after(window, scope.spend, scope.held, usd, now)
            if worst is None or at > worst.retry_after:
                worst = Refusal(scope.name, window, at)
    return worst
