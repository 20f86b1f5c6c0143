"""``api``: serve the HTTP API with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from bookmarkai_ml.cli.common import settings_of


def api(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default: settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Bind port (default: settings).")] = None,
    relay: Annotated[
        bool, typer.Option(help="Run the outbox relay inside the API process.")
    ] = True,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs)."""
    import uvicorn

    from bookmarkai_ml.api.app import create_app
    from bookmarkai_ml.observability.logging import configure_logging

    settings = settings_of(ctx)
    configure_logging(settings.telemetry)
    if not relay:
        outbox = settings.outbox.model_copy(update={"run_in_api": False})
        settings = settings.model_copy(update={"outbox": outbox})
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.api.host,
        port=port or settings.api.port,
        log_level=settings.telemetry.log_level.lower(),
        log_config=None,  # uvicorn's loggers reach the root handler (observability.logging)
        # Errors are rendered as problem+json by the app; uvicorn's access log is enough.
        server_header=False,
    )


def register(app: typer.Typer) -> None:
    app.command()(api)
