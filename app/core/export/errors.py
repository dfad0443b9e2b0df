"""The errors an export raises, shared by the export pipeline, its ONNX and TorchScript steps
and its verification (:mod:`app.core.export` re-exports them), and how their messages quote
an exporter's own text (:func:`app.core.jobs.first_line`)."""

from __future__ import annotations

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

