"""The process exit codes, documented in `--help` and the README."""

OK = 0  # success
NOT_DELIVERED = 1  # something was not delivered, or a run failed
BAD_CONFIG = 2  # bad configuration, usage or input file
UNAVAILABLE = 3  # a database or the Kubernetes API could not be reached, or the schema is unusable
