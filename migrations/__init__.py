"""Alembic migrations of the daemon's own schema (installed as a subpackage)."""
