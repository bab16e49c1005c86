"""Benchmark of the Summary collection against a large, generated orchestrator database."""
