"""Model adapters behind the ports in ``bookmarkai_ml.ports``."""
