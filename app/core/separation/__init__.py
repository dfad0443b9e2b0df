"""Separation of audio files or arrays into stems over any backend: streaming, chunked,
weighted overlap-add in bounded memory; where the stems of a batch go."""

from .naming import DEFAULT_NAME, NAME_FIELDS, check_template, output_paths, plan_outputs, track_name
from .separate import (OverlapAdd, SeparationOptions, SeparationResult, crossfade_weight,
                       separate_array, separate_file)
from .selftest import SelfTestResult, check_stems, print_report, self_test

__all__ = ["OverlapAdd", "SeparationOptions", "SeparationResult", "crossfade_weight",
           "output_paths", "separate_array", "separate_file", "DEFAULT_NAME", "NAME_FIELDS",
           "check_template", "plan_outputs", "track_name", "SelfTestResult", "check_stems",
           "print_report", "self_test"]
