"""The Memory tab (:class:`MemoryTab`) and its panels."""

from .tab import MemoryTab

__all__ = ["MemoryTab"]
