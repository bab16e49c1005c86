"""Devtron's anonymous usage telemetry (Heartbeat, Summary), delivered to PostHog once."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("orchestrator-telemetry")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
