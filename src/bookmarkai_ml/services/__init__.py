"""Services: the use cases, depending only on ports, contracts, domain and ``db`` repositories.

Services never build adapters: ``bootstrap`` builds them from ``Settings`` and hands them
in through constructors. Transaction convention: a service works in the session its
caller passes and the caller owns that transaction (``db.engine.transaction``); only a
job handler, which the runtime calls with ``(message, ctx)`` alone, opens its own short
transactions on the session factory the composition root gave it.
"""
