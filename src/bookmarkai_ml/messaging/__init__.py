"""The messaging core: Celery protocol v2, topology, reliable producer, outbox relay, DLQ."""
