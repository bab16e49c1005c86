"""What the installation holds: metrics and their statements, payloads, identity, versions."""

from .catalogue import CATALOGUE, FAILED, Layout, Metric
from .statements import collect
from .window import Window

__all__ = ["CATALOGUE", "FAILED", "Layout", "Metric", "Window", "collect"]
