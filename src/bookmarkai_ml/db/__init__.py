"""Postgres storage: engine, embedded server, ORM tables, migrations, repositories."""
