"""The Separate tab (:class:`SeparateTab`) and its panels."""

from .tab import SeparateTab

__all__ = ["SeparateTab"]
