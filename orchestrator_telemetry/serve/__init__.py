"""The HTTP side: health, readiness, Prometheus metrics and the payload preview."""
