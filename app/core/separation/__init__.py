"""Separation of audio files or arrays into stems over any backend: streaming, chunked,
weighted overlap-add in bounded memory."""

from .separate import (OverlapAdd, SeparationOptions, SeparationResult, crossfade_weight,
                       output_paths, separate_array, separate_file)
from .selftest import SelfTestResult, check_stems, print_report, self_test

__all__ = ["OverlapAdd", "SeparationOptions", "SeparationResult", "crossfade_weight",
           "output_paths", "separate_array", "separate_file", "SelfTestResult", "check_stems",
           "print_report", "self_test"]
