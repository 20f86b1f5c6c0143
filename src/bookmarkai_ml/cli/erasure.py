"""``forget SHARE``: erase one share's data, as ``DELETE /api/ml/shares/{share_id}`` does."""

from __future__ import annotations

from typing import Annotated

import typer

from bookmarkai_ml import bootstrap
from bookmarkai_ml.cli.common import Exit, console, emit_json, out, settings_of
from bookmarkai_ml.errors import RetryableError
from bookmarkai_ml.services.erasure import ErasureService


def forget(
    ctx: typer.Context,
    share_id: Annotated[str, typer.Argument(help="The saved item's id.")],
    tenant: Annotated[str, typer.Option(help="Owning tenant.")] = "default",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Erase a share: cancel its jobs, delete its results, vectors and media, blank its
    inputs and messages, keep its costs, and leave a tombstone (docs/api.md)."""
    settings = settings_of(ctx)
    db = bootstrap.database(settings)
    try:
        done = ErasureService(db.sessions, bootstrap.media_store(settings)).forget(
            tenant_id=tenant, share_id=share_id
        )
    except RetryableError as exc:
        console.print(f"[red]{exc.code}:[/] {exc} (run forget again)")
        raise typer.Exit(Exit.UNAVAILABLE) from exc
    finally:
        db.close()
    if json_output:
        emit_json({"share_id": done.share_id, "erased_at": done.erased_at, **done.removed})
        return
    out.print(f"share {done.share_id} (tenant {done.tenant_id}) erased at {done.erased_at:%c}")
    for kind, count in done.removed.items():
        out.print(f"  {kind:<28} {count}")


def register(app: typer.Typer) -> None:
    app.command()(forget)
