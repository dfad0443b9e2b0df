"""The Benchmark tab (:class:`BenchmarkTab`) and its parts: the variant list, the settings,
the live charts and the result charts, each a widget of its own."""

from .tab import BenchmarkTab

__all__ = ["BenchmarkTab"]
