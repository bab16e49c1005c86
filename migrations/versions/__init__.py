"""Revisions of the daemon's own schema, oldest first."""
