"""``bookmarkai-ml``: one command, one subcommand per job (docs/operations.md, README).

Each area registers its subcommands from its own module; this module only
assembles them. Settings are read once, by the root callback here, and reach each
command through ``typer.Context`` (``cli.common.settings_of``); commands build their
adapters from them through ``bootstrap``.
"""

from __future__ import annotations

import typer

from bookmarkai_ml.cli import api as api_commands
from bookmarkai_ml.cli import budgets as budget_commands
from bookmarkai_ml.cli import costs as cost_commands
from bookmarkai_ml.cli import db as db_commands
from bookmarkai_ml.cli import dev as dev_commands
from bookmarkai_ml.cli import erasure as erasure_commands
from bookmarkai_ml.cli import jobs as job_commands
from bookmarkai_ml.cli import keys as key_commands
from bookmarkai_ml.cli import messaging as messaging_commands
from bookmarkai_ml.cli import models as model_commands
from bookmarkai_ml.cli import process as process_commands
from bookmarkai_ml.cli import search as search_commands
from bookmarkai_ml.cli import shares as share_commands
from bookmarkai_ml.cli import up as up_commands
from bookmarkai_ml.cli.common import read_settings

app = typer.Typer(
    name="bookmarkai-ml",
    help="BookmarkAI ML platform: summarize, transcribe and embed saved content.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

db_commands.register(app)
api_commands.register(app)
up_commands.register(app)
process_commands.register(app)
job_commands.register(app)
key_commands.register(app)
cost_commands.register(app)
budget_commands.register(app)
search_commands.register(app)
erasure_commands.register(app)
share_commands.register(app)
messaging_commands.register(app)
model_commands.register(app)
dev_commands.register(app)


@app.callback()
def _root(ctx: typer.Context) -> None:
    """BookmarkAI ML platform: summarize, transcribe and embed saved content."""
    ctx.obj = read_settings()
