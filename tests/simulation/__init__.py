"""Deterministic simulation: the daemon through weeks of simulated time under faults."""
