"""What the orchestrator holds: the catalogue of metrics, its statements and the payloads."""

from ..errors import TransientCollectError
from .catalogue import CATALOGUE, FAILED, Layout, Metric
from .statements import collect
from .window import Window

__all__ = ["CATALOGUE", "FAILED", "Layout", "Metric", "TransientCollectError", "Window", "collect"]
