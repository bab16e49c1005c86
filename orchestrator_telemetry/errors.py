"""Every error the daemon raises on purpose, under one base class, and the exit code of each.

The tree, with the exit code a command ends with when one escapes it::

    TelemetryError                   1  the base: `exit_code(error)` says how a command ends
    ├── ConfigError                  2  the configuration is unusable; one line per problem
    ├── ExportInvalid                2  an export file, refused whole before anything is sent
    ├── Unavailable                  3  a dependency cannot be used now; says which and why
    │   ├── DatabaseUnavailable         the orchestrator's database or the state database
    │   │   └── TransientCollectError   a metric failed for a cause that may pass (a lock wait)
    │   ├── SchemaError                 the daemon's own schema cannot be used or upgraded
    │   ├── KubernetesError             a Kubernetes API call
    │   └── SandboxError                the demo's throwaway PostgreSQL
    ├── DeliveryError                1  an event was not accepted by its way out
    │   ├── TransientError              may pass: kept and retried (5xx, 429, timeout, refused)
    │   │   ├── AuthenticationError     the API key was refused (401, 403)
    │   │   ├── MisconfiguredError      answered as no PostHog would (404, 405, 407, ...)
    │   │   └── KeyDiscoveryError       Devtron's key endpoint gave no usable key
    │   └── RejectedError               this payload can never be accepted (400, 413, 422)
    └── PayloadInvalid               1  an event its JSON Schema refuses: never recorded nor sent

Every message names what is wrong in one line (a ConfigError one line per problem) and holds no
secret.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes, documented in `--help` and the README."""

    OK = 0
    NOT_DELIVERED = 1  # something was not delivered, or a run failed
    BAD_CONFIG = 2  # bad configuration, usage or input file
    UNAVAILABLE = 3  # a database, the Kubernetes API or the schema cannot be used now


class TelemetryError(Exception):
    """The base of every error the daemon raises on purpose."""


class ConfigError(TelemetryError):
    """The configuration is unusable; `problems` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ExportInvalid(TelemetryError):
    """The file is not a valid export; the message is one line naming what is wrong."""


class Unavailable(TelemetryError):
    """A dependency could not be used for now; the message says which and why."""


class DatabaseUnavailable(Unavailable):
    """A database could not be reached or used; says which and why, never its password."""


class TransientCollectError(DatabaseUnavailable):
    """A metric failed for a cause that may pass (a lock wait, a timeout); the run is retried."""

    def __init__(self, metrics: list[str], reason: str) -> None:
        super().__init__(f"orchestrator database: {', '.join(metrics)} failed for now: {reason}")
        self.metrics = metrics
        self.reason = reason


class SchemaError(Unavailable):
    """The daemon's schema cannot be used or brought up to date."""


class KubernetesError(Unavailable):
    """A Kubernetes API call failed; the message is one line naming the object and the cause."""

    def __init__(self, message: str, status: int | None = None) -> None:
        """Keep the HTTP status (None when no answer came) for callers that branch on it."""
        super().__init__(message)
        self.status = status


class SandboxError(Unavailable):
    """The local PostgreSQL server could not be found, started, stopped or used."""


class DeliveryError(TelemetryError):
    """The event was not accepted."""


class TransientError(DeliveryError):
    """A failure that may pass: try again later."""


class AuthenticationError(TransientError):
    """The API key was refused; the event is kept, since the key can be fixed."""


class MisconfiguredError(TransientError):
    """The endpoint answered as no PostHog capture API would: a wrong host or a proxy in the way."""


class KeyDiscoveryError(TransientError):
    """Devtron's key endpoint did not give a usable key; the events wait for the next try."""


class RejectedError(DeliveryError):
    """PostHog said this payload can never be accepted."""


class PayloadInvalid(TelemetryError):
    """An event does not match its schema; the message says which property and why, in one line."""


_EXIT_CODES: dict[type[TelemetryError], ExitCode] = {
    TelemetryError: ExitCode.NOT_DELIVERED,
    ConfigError: ExitCode.BAD_CONFIG,
    ExportInvalid: ExitCode.BAD_CONFIG,
    Unavailable: ExitCode.UNAVAILABLE,
    DeliveryError: ExitCode.NOT_DELIVERED,
    PayloadInvalid: ExitCode.NOT_DELIVERED,
}


def exit_code(error: TelemetryError) -> ExitCode:
    """The exit code a command ends with when `error` escapes it: its nearest mapped class's."""
    return next(_EXIT_CODES[kind] for kind in type(error).__mro__ if kind in _EXIT_CODES)
