"""`python -m orchestrator_telemetry` runs the command line."""

from .cli import main

raise SystemExit(main())
