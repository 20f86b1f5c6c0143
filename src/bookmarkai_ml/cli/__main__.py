"""``python -m bookmarkai_ml.cli`` runs the ``bookmarkai-ml`` command."""

from bookmarkai_ml.cli.main import app

app()
