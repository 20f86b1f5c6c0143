"""Which handler runs each task type: factories per ``TaskType``, each built lazily, once.

A handler turns a validated task message into a ``TaskOutcome``::

    def handler(message: SummarizeTask, ctx: JobContext) -> TaskOutcome

A *factory* (``Settings -> Handler``) builds it, so heavy models load only in a worker
that consumes that queue, once per process, on first use. The default factories come
from the composition root (``bootstrap.handlers``), which hands them to
:class:`HandlerRegistry`. A plugin overrides a default by registering its own::

    from bookmarkai_ml.workers import handlers

    def _summarizer(settings: Settings) -> handlers.Handler:
        return MySummarizationService(...)

    handlers.register(TaskType.SUMMARIZE, _summarizer)

or, without a function, ``register(TaskType.SUMMARIZE, lazy("pkg.module:build"))``.
Modules named in ``settings.worker.plugins`` are imported when the registry is built,
so tests and deployments can register handlers (and a budget ledger) without editing
the package.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bookmarkai_ml.config import Settings
from bookmarkai_ml.contracts import TaskType
from bookmarkai_ml.errors import ConfigurationError, DatabaseUnavailableError
from bookmarkai_ml.ports import BudgetLedger, JobContext, TaskOutcome

Handler = Callable[[Any, JobContext], TaskOutcome]
HandlerFactory = Callable[[Settings], Handler]

_FACTORIES: dict[TaskType, HandlerFactory] = {}


def register(task: TaskType | str, factory: HandlerFactory, *, replace: bool = True) -> None:
    """Register the factory that builds ``task``'s handler (the last registration wins)."""
    task_type = TaskType(task)
    if not replace and task_type in _FACTORIES:
        raise ConfigurationError(f"a handler for {task_type.value} is already registered")
    _FACTORIES[task_type] = factory


def lazy(target: str) -> HandlerFactory:
    """A factory that imports ``"package.module:function"`` only when first built.

    ``function(settings) -> Handler``; the import (and any model loading) happens in
    the worker process that first runs that task type, never at import time here.
    """
    module_name, _, attr = target.partition(":")

    def factory(settings: Settings) -> Handler:
        build: HandlerFactory = getattr(importlib.import_module(module_name), attr)
        return build(settings)

    return factory


def registered() -> frozenset[TaskType]:
    return frozenset(_FACTORIES)


def load_plugins(modules: Iterable[str]) -> None:
    """Import modules that call :func:`register` at import time.

    Raises:
        ConfigurationError: a module cannot be imported.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(f"worker plugin {name!r} cannot be imported: {exc}") from exc


class HandlerRegistry:
    """Builds each handler once per process from ``settings``, on first use.

    A factory registered with :func:`register` (a plugin) wins over the ``defaults``
    the composition root passes in.
    """

    def __init__(
        self, settings: Settings, defaults: Mapping[TaskType, HandlerFactory] | None = None
    ) -> None:
        self._settings = settings
        self._defaults = dict(defaults or {})
        self._built: dict[TaskType, Handler] = {}
        self._lock = threading.Lock()

    def get(self, task: TaskType) -> Handler:
        """The handler for ``task``.

        Raises:
            ConfigurationError: nothing is registered for ``task``.
        """
        handler = self._built.get(task)
        if handler is not None:
            return handler
        with self._lock:
            if task not in self._built:
                factory = _FACTORIES.get(task) or self._defaults.get(task)
                if factory is None:
                    raise ConfigurationError(f"no handler registered for task {task.value!r}")
                self._built[task] = factory(self._settings)
            return self._built[task]


LedgerFactory = Callable[[Settings, Any], BudgetLedger]
_LEDGER: list[LedgerFactory] = []


class _NoLedger:
    """Fails closed: with no budget ledger at all, nothing may spend."""

    def reserve(self, *, job_id: Any, task: str, usd: Any) -> None:
        raise DatabaseUnavailableError("no budget ledger is registered; refusing to spend")

    def release(self, *, job_id: Any) -> None:
        return None


def register_ledger(factory: LedgerFactory) -> None:
    """Register the factory ``(settings, session_factory) -> BudgetLedger`` workers use."""
    _LEDGER[:] = [factory]


def build_ledger(
    settings: Settings, sessions: Any, *, default: LedgerFactory | None = None
) -> BudgetLedger:
    """The registered ledger, else ``default``'s, else one that refuses to spend."""
    factory = _LEDGER[0] if _LEDGER else default
    return factory(settings, sessions) if factory is not None else _NoLedger()
