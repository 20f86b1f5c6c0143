"""Metrics, tracing and logging hooks. Business code never calls these directly."""
