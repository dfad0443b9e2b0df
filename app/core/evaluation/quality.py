"""How good a model is, in words a musician can use: read from what its file says about its
training and evaluation (bundle metadata or an exported file's properties), never guessed.

An untrained model (``tfswa-studio init``) stands out; a trained one is described by the SDR
it reached per stem on held-out songs (or, failing that, on its validation songs), with the
share of what an ideal ratio mask reaches on the same songs when that was measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

# SDR in dB on music, roughly as listeners hear it (MUSDB18 systems range from about 4 dB to
# about 9 dB on vocals; the mixture itself scores around 0 dB).
SDR_WORDS = ((9.0, "very good"), (6.0, "good"), (3.0, "fair"), (float("-inf"), "poor"))


@dataclass
class StemQuality:
    source: str
    sdr_db: float
    words: str                          # "very good", "good", "fair", "poor"
    oracle_percent: Optional[float] = None


@dataclass
class QualitySummary:
    trained: Optional[bool]             # None: the file does not say
    headline: str
    stems: list[StemQuality] = field(default_factory=list)
    measured_on: str = ""               # "20 held-out generated songs"

    @property
    def lines(self) -> list[str]:
        out = []
        for s in self.stems:
            line = f"{s.source}: {s.sdr_db:.1f} dB SDR ({s.words})"
            if self.measured_on:
                line += f" on {self.measured_on}"
            if s.oracle_percent is not None:
                line += f", {s.oracle_percent:.0f} % of what an ideal mask reaches"
            out.append(line)
        return out

    def text(self) -> str:
        return "\n".join([self.headline, *self.lines])


def sdr_words(sdr_db: float) -> str:
    return next(words for floor, words in SDR_WORDS if sdr_db >= floor)


def _value(metadata: Mapping[str, Any], key: str) -> Any:
    """A metadata value; exported files carry nested values as JSON strings."""
    value = metadata.get(key)
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _trained(metadata: Mapping[str, Any]) -> Optional[bool]:
    value = metadata.get("trained")
    if isinstance(value, str):
        value = {"true": True, "false": False}.get(value.strip().lower())
    return value if isinstance(value, bool) else None


def _number(value: Any) -> Optional[float]:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _scores(metadata: Mapping[str, Any]) -> tuple[dict[str, float], dict[str, float], str]:
    """(SDR per source, percent of the oracle per source, what they were measured on)."""
    evaluation = _value(metadata, "evaluation")
    if isinstance(evaluation, Mapping):
        model = (evaluation.get("median_sdr_db") or {}).get("model") or {}
        oracle = evaluation.get("percent_of_oracle") or {}
        if model:
            return dict(model), dict(oracle), str(evaluation.get("data") or "held-out songs")
    validation = _value(metadata, "validation")
    if isinstance(validation, Mapping) and validation.get("sdr"):
        training = _value(metadata, "training")
        tracks = len(training.get("valid_tracks") or []) if isinstance(training, Mapping) else 0
        on = f"{tracks} validation songs" if tracks else "its validation songs"
        return dict(validation["sdr"]), {}, on
    return {}, {}, ""


def quality_summary(metadata: Mapping[str, Any], sources: Sequence[str]) -> QualitySummary:
    """What ``metadata`` says about the model's quality, for ``sources`` in order."""
    names = " and ".join([", ".join(sources[:-1]), sources[-1]] if len(sources) > 2
                         else list(sources))
    trained = _trained(metadata)
    if trained is False:
        return QualitySummary(False, f"Untrained model: it was never trained (made by "
                                     f"'tfswa-studio init'), so its {names} will sound like "
                                     f"the mixture or like noise. Train it, or open a trained "
                                     f"model such as the bundled demo.")
    sdr, oracle, on = _scores(metadata)
    stems = []
    for source in sources:
        value = _number(sdr.get(source))
        if value is not None:
            stems.append(StemQuality(source, value, sdr_words(value), _number(oracle.get(source))))
    if not stems:
        said = "trained" if trained else "a model"
        return QualitySummary(trained, f"Separates {names}. The file says it is {said}, but "
                                       f"not how well it separates: try it on a song with "
                                       f"its true stems to measure it.")
    headline = f"Trained model: separates {names}."
    if "generated" in on:
        headline += (" Measured on songs the project generates, which are easier than real "
                     "recordings: expect lower figures on real music.")
    return QualitySummary(True if trained is None else trained, headline, stems, on)
