"""How good the stems are: the SDR formulas (:mod:`.metrics`), scoring stem files against
their true stems (:mod:`.scoring`), and evaluating a model over a folder of songs with the
mixture and the oracle mask beside it (:mod:`.evaluate`), and what a model's file says
about its quality, in words (:mod:`.quality`)."""

from .evaluate import REFERENCES, EvaluationResult, TrackScores, evaluate, oracle_ratio_mask
from .metrics import (EPS, METHODS, bsseval_sdr, median, museval_available, museval_problem,
                      require_museval, sdr, stem_sdr)
from .quality import QualitySummary, StemQuality, quality_summary, sdr_words
from .scoring import find_reference_stems, score_stems, stem_file_sdr

__all__ = [
    "REFERENCES", "EvaluationResult", "TrackScores", "evaluate", "oracle_ratio_mask", "EPS",
    "METHODS", "bsseval_sdr", "median", "museval_available", "museval_problem",
    "require_museval", "sdr", "stem_sdr", "find_reference_stems", "score_stems",
    "stem_file_sdr", "QualitySummary", "StemQuality", "quality_summary", "sdr_words",
]
