"""The ``bookmarkai-ml`` command."""
