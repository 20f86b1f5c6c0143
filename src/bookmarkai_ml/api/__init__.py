"""The HTTP API (docs/api.md): ``create_app(settings)`` builds it; ``bookmarkai-ml api`` runs it."""

from bookmarkai_ml.api.app import create_app

__all__ = ["create_app"]
