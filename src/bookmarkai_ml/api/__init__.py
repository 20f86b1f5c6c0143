"""The HTTP API (SPEC §1b): ``create_app(settings)`` builds it; ``bookmarkai-ml api`` serves it."""

from bookmarkai_ml.api.app import create_app

__all__ = ["create_app"]
