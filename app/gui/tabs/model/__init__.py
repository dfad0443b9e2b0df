"""The Model tab (:class:`ModelTab`), its panels and the text of its summary."""

from .tab import ModelTab

__all__ = ["ModelTab"]
