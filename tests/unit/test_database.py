"""How every connection to PostgreSQL is opened."""

from __future__ import annotations

from orchestrator_telemetry.config import DatabaseSettings
from orchestrator_telemetry.database import connect_args


def test_orchestrator_connections_are_read_only_with_timeouts_and_a_name() -> None:
    args = connect_args(DatabaseSettings(statement_timeout=2.5, connect_timeout=4), read_only=True)

    assert args == {
        "connect_timeout": 4,
        "application_name": "orchestrator-telemetry",
        "options": "-c statement_timeout=2500 -c default_transaction_read_only=on -c jit=off",
    }


def test_state_connections_may_write() -> None:
    args = connect_args(DatabaseSettings(), read_only=False)

    assert args["options"] == "-c statement_timeout=30000"


def test_a_sub_millisecond_statement_timeout_is_not_turned_into_no_timeout() -> None:
    # The server counts whole milliseconds, and for it 0 means no timeout at all.
    args = connect_args(DatabaseSettings(statement_timeout=0.0004), read_only=True)

    assert str(args["options"]).startswith("-c statement_timeout=1 ")
