"""Scoring a questionnaire with the published keys, and judging whether the answers can be trusted.

Per trait: the mean of the keyed item values (a - keyed item counts 6 - response), mapped from 1..5
to 0..1 as (mean - 1) / 4. Confidence: the scale's published coefficient alpha times the share of
its items answered. Input that cannot be scored is a ValidationError naming the problem (unknown
items, values off the 1-5 scale, nothing answered, every trait below half its items); input that
can be scored but is doubtful (straight-lining: the same answer to every item, or nearly) is scored
with its confidence capped and the reason given.
"""

from __future__ import annotations

from collections import Counter

from django.core.exceptions import ValidationError

from apps.personality.instrument import INSTRUMENTS, TRAITS, Instrument

#: confidence of a trait when the answers look careless (straight-lining)
CARELESS_CONFIDENCE = 0.1
#: share of identical answers from which the answers count as (near) straight-lining
STRAIGHT_LINE_SHARE = 0.9


def instrument_get(code: str) -> Instrument:
    try:
        return INSTRUMENTS[code]
    except KeyError:
        raise ValidationError(
            {"instrument": [f"Unknown instrument '{code}'; use one of: {', '.join(INSTRUMENTS)}."]}
        ) from None


def _clean(instrument: Instrument, answers) -> dict[int, int]:
    if not isinstance(answers, dict) or not answers:
        raise ValidationError({"answers": ["Give at least one answer: an object of item number -> 1..5."]})
    items = instrument.by_number()
    unknown, off_scale, clean = [], [], {}
    for raw_key, value in answers.items():
        try:
            number = int(str(raw_key))
        except ValueError:
            unknown.append(str(raw_key))
            continue
        if number not in items:
            unknown.append(str(raw_key))
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
            if isinstance(value, float) and value.is_integer() and 1 <= value <= 5:
                clean[number] = int(value)
                continue
            off_scale.append(f"{number}={value!r}")
            continue
        clean[number] = value
    errors = {}
    if unknown:
        errors["answers"] = [
            f"Unknown item numbers for {instrument.code} (1-{len(items)}): {', '.join(sorted(unknown))}."
        ]
    if off_scale:
        errors.setdefault("answers", []).append(
            f"Answers must be whole numbers from 1 to 5; off the scale: {', '.join(off_scale)}."
        )
    if errors:
        raise ValidationError(errors)
    return clean


def assessment_score(*, instrument_code: str, answers) -> dict:
    """{"instrument", "scores", "confidence", "answered", "missing", "flags", "reasons"} for these answers.

    Raises ValidationError when nothing can be scored."""
    instrument = instrument_get(instrument_code)
    clean = _clean(instrument, answers)
    scores: dict[str, float | None] = {}
    confidence: dict[str, float] = {}
    reasons: list[str] = []
    flags: list[str] = []
    for trait in TRAITS:
        items = instrument.trait_items(trait)
        values = [(6 - clean[i.number]) if i.key < 0 else clean[i.number] for i in items if i.number in clean]
        if len(values) * 2 < len(items):
            scores[trait], confidence[trait] = None, 0.0
            reasons.append(f"{trait}: only {len(values)} of {len(items)} items answered (at least half needed).")
            continue
        scores[trait] = round((sum(values) / len(values) - 1) / 4, 4)
        confidence[trait] = round(instrument.reliability[trait] * len(values) / len(items), 4)
    if all(score is None for score in scores.values()):
        raise ValidationError(
            {"answers": [f"Too few items answered to score any trait of {instrument.code}: " + " ".join(reasons)]}
        )
    missing = sorted(set(instrument.by_number()) - set(clean))
    if missing:
        flags.append("incomplete")
        reasons.insert(0, f"{len(missing)} of {len(instrument.items)} items unanswered: {missing}.")
    most_common_value, most_common_count = Counter(clean.values()).most_common(1)[0]
    if len(clean) >= 4 and most_common_count >= STRAIGHT_LINE_SHARE * len(clean):
        flags.append("straight_lining")
        same = "every item" if most_common_count == len(clean) else f"{most_common_count} of {len(clean)} items"
        reasons.append(
            f"The same answer ({most_common_value}) to {same}, reverse-keyed ones included: the answers contradict "
            f"each other, so every score has low confidence ({CARELESS_CONFIDENCE})."
        )
        confidence = {t: min(c, CARELESS_CONFIDENCE) for t, c in confidence.items()}
    return {
        "instrument": instrument.code,
        "scores": scores,
        "confidence": confidence,
        "answered": len(clean),
        "missing": missing,
        "flags": flags,
        "reasons": reasons,
    }
