"""``keys create|list|revoke``: API keys (stored hashed; the secret is shown once)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.table import Table

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, out, settings_of
from bookmarkai_ml.db.engine import transaction
from bookmarkai_ml.errors import ConflictError, InvalidInputError, NotFoundError
from bookmarkai_ml.services import apikeys

keys_app = typer.Typer(help="Manage API keys (Authorization: Bearer <key>).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@keys_app.command("create")
def create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="Tenant that owns the key's jobs.")],
    name: Annotated[str, typer.Option(help="A label for people.")] = "default",
    rate_limit: Annotated[
        int | None, typer.Option(help="Requests per minute (default: settings).")
    ] = None,
    admin: Annotated[
        bool, typer.Option("--admin", help="Scope 'admin': the whole platform's analytics.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    settings = settings_of(ctx)
    try:
        with transaction(bootstrap.database(settings).sessions) as session:
            created = apikeys.create(
                session,
                tenant_id=tenant,
                name=name,
                pepper=settings.secret_key,
                rate_limit_per_minute=rate_limit,
                scopes=[apikeys.ADMIN] if admin else [],
            )
    except InvalidInputError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(Exit.USAGE) from exc
    if json_output:
        emit_json({"key": created.key, **asdict(created.info)})
        return
    scopes = f" with scopes {', '.join(created.info.scopes)}" if created.info.scopes else ""
    console.print(f"key id {created.info.id} for tenant [bold]{tenant}[/]{scopes} (shown once):")
    out.print(created.key)


@keys_app.command("list")
def list_(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """List keys (never their secrets)."""
    with bootstrap.database(settings_of(ctx)).sessions() as session:
        keys = apikeys.list_keys(session, tenant_id=tenant)
    if json_output:
        emit_json([asdict(k) for k in keys])
        return
    table = Table("id", "prefix", "tenant", "name", "scopes", "created", "last used", "revoked")
    for k in keys:
        table.add_row(
            str(k.id),
            k.prefix,
            k.tenant_id,
            k.name,
            ",".join(k.scopes) or "-",
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "-",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "-",
        )
    out.print(table)


@keys_app.command("revoke")
def revoke(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="Key id or its display prefix.")],
    json_output: JsonOpt = False,
) -> None:
    """Revoke a key; requests with it get 401 from then on."""
    try:
        with transaction(bootstrap.database(settings_of(ctx)).sessions) as session:
            info = apikeys.revoke(session, ref)
    except (NotFoundError, ConflictError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(Exit.NOT_FOUND) from exc
    if json_output:
        emit_json(asdict(info))
        return
    console.print(f"revoked {info.id} ({info.prefix}, tenant {info.tenant_id})")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
