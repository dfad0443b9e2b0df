"""The Export tab (:class:`ExportTab`), its panels and the text of its result."""

from .tab import ExportTab

__all__ = ["ExportTab"]
