"""Thin Faust agents: each moves records between topics and calls one stage's pure function."""

from mcu.agents import enrich, normalize, sink

__all__ = ["enrich", "normalize", "sink"]
