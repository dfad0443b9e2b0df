"""The errors an export raises, shared by the export pipeline, its ONNX and TorchScript steps
and its verification (:mod:`app.core.export` re-exports them), and how their messages quote
an exporter's own text."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..jobs import UserError

if TYPE_CHECKING:
    from .verify import VerificationReport


class ExportError(UserError):
    """An export that could not be completed; the message says what to try."""


class VerificationFailed(ExportError):
    """The artifact's outputs differ from PyTorch's; ``report`` holds the measurements."""

    def __init__(self, message: str, path, hint: str, report: "VerificationReport"):
        super().__init__(message, path, hint)
        self.report = report


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (exporters colour their messages)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def first_line(text: str) -> str:
    """The first line of an exporter's or runtime's message, without terminal colour codes
    and at most 300 characters: enough to quote in a message for a person."""
    text = strip_ansi(text).strip()
    return text.splitlines()[0][:300] if text else "no details"
