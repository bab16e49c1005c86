"""The daemon's own schema: its tables, migrations, the outbox and what it recorded."""
