"""The course's experiments, as library functions (each writes a figure)."""

from .demo import run_demo

__all__ = ["run_demo"]
