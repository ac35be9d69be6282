"""Questionnaire scoring against hand-computed examples from the published keys (issue 8).

Covers: the instruments' items and keys as published (counts of + and - keyed items per trait,
spot checks of texts); Mini-IPIP and IPIP-50 scores computed by hand (reverse-keyed items, 0..1
scaling, Emotional Stability turned into neuroticism); confidence = published alpha x answered share;
missing items (lower confidence, a trait below half its items unscored, nothing scorable = 400);
values off the scale and unknown items (400 naming them); the same answer to every item (low
confidence with the reason); combination by confidence.
"""

import pytest
from django.core.exceptions import ValidationError

from apps.personality.combine import Estimate, estimates_combine
from apps.personality.instrument import IPIP50, MINI_IPIP, first_person
from apps.personality.scoring import CARELESS_CONFIDENCE, assessment_score

# Hand-scored Mini-IPIP example (item: answer); worked out in the comments per trait.
MINI_ANSWERS = {
    1: 5, 2: 4, 3: 2, 4: 1, 5: 5, 6: 1, 7: 2, 8: 4, 9: 5, 10: 1,
    11: 4, 12: 4, 13: 2, 14: 1, 15: 2, 16: 2, 17: 1, 18: 4, 19: 5, 20: 1,
}  # fmt: skip


def _keys(instrument):
    out = {}
    for item in instrument.items:
        out.setdefault(item.trait, {"+": 0, "-": 0})["+" if item.key > 0 else "-"] += 1
    return out


def test_ipip50_items_and_keys_as_published():
    """IPIP-50: 10 items per trait; - keyed: E 5, A 4, C 4, neuroticism 2 (8 for Emotional Stability), O 3."""
    assert len(IPIP50.items) == 50
    assert _keys(IPIP50) == {
        "extraversion": {"+": 5, "-": 5},
        "agreeableness": {"+": 6, "-": 4},
        "conscientiousness": {"+": 6, "-": 4},
        "neuroticism": {"+": 8, "-": 2},
        "openness": {"+": 7, "-": 3},
    }
    by_number = IPIP50.by_number()
    assert (by_number[1].text, by_number[1].trait, by_number[1].key) == ("Am the life of the party.", "extraversion", 1)
    assert (by_number[9].text, by_number[9].key) == ("Am relaxed most of the time.", -1)
    assert (by_number[38].text, by_number[38].trait, by_number[38].key) == ("Shirk my duties.", "conscientiousness", -1)
    assert (by_number[50].text, by_number[50].trait) == ("Am full of ideas.", "openness")
    assert first_person(by_number[1].text) == "I am the life of the party."


def test_mini_ipip_items_and_keys_as_published():
    """Mini-IPIP: 4 items per trait, 2 + / 2 - keyed except Intellect (1 + / 3 -); Donnellan et al.'s order."""
    assert len(MINI_IPIP.items) == 20
    keys = _keys(MINI_IPIP)
    assert keys["openness"] == {"+": 1, "-": 3}
    assert all(
        keys[t] == {"+": 2, "-": 2} for t in ("extraversion", "agreeableness", "conscientiousness", "neuroticism")
    )
    reversed_numbers = [item.number for item in MINI_IPIP.items if item.key < 0]
    assert reversed_numbers == [6, 7, 8, 9, 10, 15, 16, 17, 18, 19, 20]  # the published list of items to reverse
    assert MINI_IPIP.by_number()[15].text == "Have difficulty understanding abstract ideas."


def test_mini_ipip_hand_computed():
    """E: 5, 6-1=5, 4, 6-2=4 -> 4.5 -> .875; A: 4, 4, 4, 5 -> .8125; C: 2, 2, 2, 2 -> .25; N: 1, 1, 1, 1 -> 0;
    O: 5, 5, 4, 5 -> .9375. Confidence = the published alphas (all items answered)."""
    result = assessment_score(instrument_code="mini_ipip", answers={str(k): v for k, v in MINI_ANSWERS.items()})
    assert result == {
        "instrument": "mini_ipip",
        "scores": {"openness": 0.9375, "conscientiousness": 0.25, "extraversion": 0.875, "agreeableness": 0.8125,
                   "neuroticism": 0.0},
        "confidence": {"openness": 0.65, "conscientiousness": 0.69, "extraversion": 0.77, "agreeableness": 0.7,
                       "neuroticism": 0.68},
        "answered": 20,
        "missing": [],
        "flags": [],
        "reasons": [],
    }  # fmt: skip


def test_ipip50_hand_computed_with_emotional_stability_flipped():
    """E items 1..46: 4,2,5,1,3,2,4,3,5,4 keyed -> 4,4,5,5,3,4,4,3,5,2 = 39 -> 3.9 -> .725. Emotional Stability
    items 4..49 (published keys) sum to 24 (mean 2.4 -> .35), so neuroticism is .65; everything else 3 -> .5."""
    answers = dict.fromkeys(range(1, 51), 3)
    answers.update({1: 4, 6: 2, 11: 5, 16: 1, 21: 3, 26: 2, 31: 4, 36: 3, 41: 5, 46: 4})
    answers.update({4: 5, 9: 2, 14: 4, 19: 1, 24: 3, 29: 4, 34: 2, 39: 3, 44: 4, 49: 2})
    result = assessment_score(instrument_code="ipip50", answers=answers)
    assert result["scores"] == {
        "openness": 0.5, "conscientiousness": 0.5, "extraversion": 0.725, "agreeableness": 0.5, "neuroticism": 0.65,
    }  # fmt: skip
    emotional_stability_keys = {4: -1, 9: 1, 14: -1, 19: 1, 24: -1, 29: -1, 34: -1, 39: -1, 44: -1, 49: -1}
    stability = sum(answers[n] if key > 0 else 6 - answers[n] for n, key in emotional_stability_keys.items()) / 10
    assert stability == 2.4
    assert result["scores"]["neuroticism"] == pytest.approx(1 - (stability - 1) / 4)
    assert result["confidence"] == {
        "openness": 0.84, "conscientiousness": 0.79, "extraversion": 0.87, "agreeableness": 0.82, "neuroticism": 0.86,
    }  # fmt: skip


def test_extremes_map_to_0_and_1():
    """Agreeing fully with every + keyed item and rejecting every - keyed one: 1.0 everywhere (the reverse: 0)."""
    top = {item.number: (5 if item.key > 0 else 1) for item in IPIP50.items}
    bottom = {item.number: (1 if item.key > 0 else 5) for item in IPIP50.items}
    assert set(assessment_score(instrument_code="ipip50", answers=top)["scores"].values()) == {1.0}
    assert set(assessment_score(instrument_code="ipip50", answers=bottom)["scores"].values()) == {0.0}


def test_missing_items_lower_confidence_and_drop_traits_below_half():
    """3 of 4 E items: confidence .77 x 3/4; 1 of 4 C items: not scored, with the reason; the rest unchanged."""
    answers = dict(MINI_ANSWERS)
    del answers[16]  # E
    for number in (3, 8, 13):  # C: only item 18 left
        del answers[number]
    result = assessment_score(instrument_code="mini_ipip", answers=answers)
    assert result["scores"]["extraversion"] == pytest.approx(((5 + 5 + 4) / 3 - 1) / 4, abs=1e-4)
    assert result["confidence"]["extraversion"] == pytest.approx(0.77 * 3 / 4, abs=1e-4)
    assert result["scores"]["conscientiousness"] is None and result["confidence"]["conscientiousness"] == 0
    assert result["missing"] == [3, 8, 13, 16]
    assert "incomplete" in result["flags"]
    assert any(r.startswith("conscientiousness: only 1 of 4 items") for r in result["reasons"])
    assert result["scores"]["agreeableness"] == 0.8125


def test_nothing_scorable_is_a_validation_error():
    """One answer per trait at most on the IPIP-50: no trait reaches half its items -> ValidationError."""
    with pytest.raises(ValidationError) as caught:
        assessment_score(instrument_code="ipip50", answers={"1": 4, "2": 3})
    assert "Too few items answered" in str(caught.value)


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ({"1": 6, "2": 3}, "off the scale: 1=6"),
        ({"1": 0}, "off the scale: 1=0"),
        ({"3": 3.5}, "off the scale: 3=3.5"),
        ({"4": "4"}, "off the scale: 4='4'"),
        ({"4": True}, "off the scale: 4=True"),
        ({"21": 3}, "Unknown item numbers for mini_ipip (1-20): 21"),
        ({"first": 3}, "Unknown item numbers for mini_ipip (1-20): first"),
        ({}, "Give at least one answer"),
    ],
)
def test_invalid_answers_name_the_problem(answers, message):
    """Off-scale, non-integer, unknown or no answers: a ValidationError naming the item and value."""
    with pytest.raises(ValidationError) as caught:
        assessment_score(instrument_code="mini_ipip", answers=answers)
    assert message in str(caught.value)


def test_unknown_instrument():
    with pytest.raises(ValidationError, match="Unknown instrument 'big5'"):
        assessment_score(instrument_code="big5", answers={"1": 3})


def test_same_answer_to_every_item_is_low_confidence_with_reason():
    """Straight-lining (4 to everything, reverse-keyed items too): scored, every confidence capped, reason given."""
    result = assessment_score(instrument_code="ipip50", answers=dict.fromkeys(range(1, 51), 4))
    assert result["flags"] == ["straight_lining"]
    assert set(result["confidence"].values()) == {CARELESS_CONFIDENCE}
    assert "The same answer (4) to every item" in result["reasons"][0]
    near = dict.fromkeys(range(1, 21), 2)
    near[1] = 4
    near[2] = 3
    nearly = assessment_score(instrument_code="mini_ipip", answers=near)
    assert "straight_lining" in nearly["flags"] and "18 of 20 items" in nearly["reasons"][-1]


def test_combination_questionnaire_first_by_confidence():
    """Weights c/(1-c): a .87 questionnaire outweighs .2 behaviour ~27:1; confidence W/(1+W); sources listed."""
    questionnaire = Estimate("questionnaire", {"extraversion": 0.8}, {"extraversion": 0.87}, {"extraversion": ["q"]})
    behaviour = Estimate("behaviour", {"extraversion": 0.2, "openness": 0.7}, {"extraversion": 0.2, "openness": 0.2})
    combined = estimates_combine([behaviour, questionnaire])
    w_q, w_b = 0.87 / 0.13, 0.2 / 0.8
    assert combined["scores"]["extraversion"] == pytest.approx((w_q * 0.8 + w_b * 0.2) / (w_q + w_b), abs=1e-4)
    assert combined["confidence"]["extraversion"] == pytest.approx((w_q + w_b) / (1 + w_q + w_b), abs=1e-4)
    assert [s["source"] for s in combined["evidence"]["extraversion"]["sources"]] == ["questionnaire", "behaviour"]
    assert combined["scores"]["openness"] == 0.7 and combined["confidence"]["openness"] == 0.2
    assert combined["scores"]["neuroticism"] is None and combined["confidence"]["neuroticism"] == 0
    assert combined["source"] == "combined"
