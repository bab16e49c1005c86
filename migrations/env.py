"""Alembic environment: runs on the connection and schema handed over by `migrate`."""

from alembic import context
from sqlalchemy import Connection

from orchestrator_telemetry.state.tables import metadata

connection = context.config.attributes.get("connection")
schema = context.config.attributes.get("schema")
if not isinstance(connection, Connection) or not isinstance(schema, str):
    raise RuntimeError("run migrations with `orchestrator-telemetry migrate`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table_schema=schema,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
