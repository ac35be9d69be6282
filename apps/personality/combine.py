"""One estimate per source, and their combination per trait.

An `Estimate` is what one source says: scores (0..1) for the traits it could estimate, each with a
confidence (0..1) and its evidence. Traits it could not estimate are absent, never 0.5.

Combination, per trait, over the sources that estimated it (questionnaire first, then text, then
behaviour, in the evidence list too): confidences act as reliabilities, and each source weighs
w = c / (1 - c) (its signal-to-noise ratio; a questionnaire at 0.87 weighs 6.7, behaviour at 0.2 weighs
0.25, so a questionnaire dominates without silencing the rest). The score is the weighted mean and the
combined confidence W / (1 + W) with W the sum of the weights: one source alone keeps its confidence,
agreeing sources add up, and nothing reaches 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.personality.instrument import TRAITS

SOURCE_ORDER = ("questionnaire", "text", "behaviour")
MAX_CONFIDENCE = 0.95


@dataclass
class Estimate:
    source: str
    scores: dict[str, float] = field(default_factory=dict)
    confidence: dict[str, float] = field(default_factory=dict)
    #: per trait: JSON-ready evidence (items, features, quotes)
    evidence: dict[str, object] = field(default_factory=dict)
    #: what the source looked at, for the profile's evidence (e.g. "IPIP-50 answered on ...")
    summary: str = ""

    def as_dict(self) -> dict:
        return {
            "source": self.source, "scores": self.scores, "confidence": self.confidence,
            "evidence": self.evidence, "summary": self.summary,
        }  # fmt: skip


def _weight(confidence: float) -> float:
    confidence = min(max(confidence, 0.0), MAX_CONFIDENCE)
    return confidence / (1 - confidence)


def estimates_combine(estimates: list[Estimate]) -> dict:
    """{"scores", "confidence", "evidence", "source"} over the given estimates (any may be missing)."""
    ordered = sorted(estimates, key=lambda e: SOURCE_ORDER.index(e.source) if e.source in SOURCE_ORDER else 99)
    scores: dict[str, float | None] = {}
    confidence: dict[str, float] = {}
    evidence: dict[str, dict] = {}
    used_sources: set[str] = set()
    for trait in TRAITS:
        parts = [e for e in ordered if trait in e.scores and e.confidence.get(trait, 0) > 0]
        if not parts:
            scores[trait], confidence[trait] = None, 0.0
            evidence[trait] = {"score": None, "confidence": 0.0, "sources": []}
            continue
        weights = [_weight(e.confidence[trait]) for e in parts]
        total = sum(weights)
        score = sum(w * e.scores[trait] for w, e in zip(weights, parts, strict=True)) / total
        scores[trait] = round(min(max(score, 0.0), 1.0), 4)
        confidence[trait] = round(min(total / (1 + total), MAX_CONFIDENCE), 4)
        evidence[trait] = {
            "score": scores[trait],
            "confidence": confidence[trait],
            "sources": [
                {
                    "source": e.source,
                    "score": round(e.scores[trait], 4),
                    "confidence": round(e.confidence[trait], 4),
                    "weight": round(w / total, 4),
                    "summary": e.summary,
                    "evidence": e.evidence.get(trait, []),
                }
                for w, e in zip(weights, parts, strict=True)
            ],
        }
        used_sources.update(e.source for e in parts)
    source = used_sources.pop() if len(used_sources) == 1 else ("combined" if used_sources else "")
    return {"scores": scores, "confidence": confidence, "evidence": evidence, "source": source}
