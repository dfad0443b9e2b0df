"""The Quantize tab (:class:`QuantizeTab`) and its composed widgets: the settings form with
the calibration song list, the live sensitivity chart, the results table and charts."""

from .tab import QuantizeTab

__all__ = ["QuantizeTab"]
