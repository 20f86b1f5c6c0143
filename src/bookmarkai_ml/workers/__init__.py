"""Workers: the job runtime (claim, lease, finish), thin Celery tasks, the handler registry."""
