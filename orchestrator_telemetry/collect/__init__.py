"""What the orchestrator holds: the catalogue of metrics, its statements and the payloads."""

from .catalogue import CATALOGUE, FAILED, Layout, Metric
from .statements import TransientCollectError, collect
from .window import Window

__all__ = ["CATALOGUE", "FAILED", "Layout", "Metric", "TransientCollectError", "Window", "collect"]
