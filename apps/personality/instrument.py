"""The public-domain questionnaires: the IPIP Big-Five factor markers (50 items) and the Mini-IPIP (20 items).

Item texts and keys as published on ipip.ori.org (public domain, no permission needed):
- IPIP-50: "Big-Five Factor Markers" (Goldberg, 1992; items and keys at ipip.ori.org/newBigFive5broadKey.htm,
  in the administration order of ipip.ori.org/New_IPIP-50-item-scale.htm). Factor IV is published as
  Emotional Stability; we report its opposite pole, neuroticism, so each Emotional Stability key is flipped
  here (item 4 "Get stressed out easily" is - keyed for Emotional Stability, hence + keyed for neuroticism).
  Coefficient alphas from that page: I .87, II .82, III .79, IV .86, V .84.
- Mini-IPIP: Donnellan, Oswald, Baird & Lucas (2006), Psychological Assessment 18, 192-203; key at
  ipip.ori.org/MiniIPIPKey.htm (Factor IV keyed as Neuroticism). Alphas: E .77, A .70, C .69, N .68, I .65.

Responses are 1 (very inaccurate) .. 5 (very accurate); a - keyed item scores 6 - response.
Factor V (Intellect/Imagination) is reported as "openness".
"""

from __future__ import annotations

from dataclasses import dataclass

TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
SCALE = {
    1: "Very inaccurate",
    2: "Moderately inaccurate",
    3: "Neither accurate nor inaccurate",
    4: "Moderately accurate",
    5: "Very accurate",
}
INSTRUCTIONS = (
    "Describe yourself as you generally are now, not as you wish to be in the future, as you honestly see "
    "yourself in relation to other people you know of the same sex and roughly your age. For each statement, "
    "answer from 1 (very inaccurate) to 5 (very accurate)."
)


@dataclass(frozen=True)
class Item:
    number: int
    text: str
    trait: str
    key: int  # +1: agreeing means more of the trait; -1: reverse-keyed


@dataclass(frozen=True)
class Instrument:
    code: str
    name: str
    citation: str
    items: tuple[Item, ...]
    #: published coefficient alpha per trait: the confidence of a fully answered scale
    reliability: dict

    def by_number(self) -> dict[int, Item]:
        return {item.number: item for item in self.items}

    def trait_items(self, trait: str) -> list[Item]:
        return [item for item in self.items if item.trait == trait]


O, C, E, A, N = TRAITS  # noqa: E741  (the trait initials are the clearest names here)
# (text, trait, key) in the administration order of ipip.ori.org/New_IPIP-50-item-scale.htm
_IPIP50 = [
    ("Am the life of the party.", E, +1),
    ("Feel little concern for others.", A, -1),
    ("Am always prepared.", C, +1),
    ("Get stressed out easily.", N, +1),
    ("Have a rich vocabulary.", O, +1),
    ("Don't talk a lot.", E, -1),
    ("Am interested in people.", A, +1),
    ("Leave my belongings around.", C, -1),
    ("Am relaxed most of the time.", N, -1),
    ("Have difficulty understanding abstract ideas.", O, -1),
    ("Feel comfortable around people.", E, +1),
    ("Insult people.", A, -1),
    ("Pay attention to details.", C, +1),
    ("Worry about things.", N, +1),
    ("Have a vivid imagination.", O, +1),
    ("Keep in the background.", E, -1),
    ("Sympathize with others' feelings.", A, +1),
    ("Make a mess of things.", C, -1),
    ("Seldom feel blue.", N, -1),
    ("Am not interested in abstract ideas.", O, -1),
    ("Start conversations.", E, +1),
    ("Am not interested in other people's problems.", A, -1),
    ("Get chores done right away.", C, +1),
    ("Am easily disturbed.", N, +1),
    ("Have excellent ideas.", O, +1),
    ("Have little to say.", E, -1),
    ("Have a soft heart.", A, +1),
    ("Often forget to put things back in their proper place.", C, -1),
    ("Get upset easily.", N, +1),
    ("Do not have a good imagination.", O, -1),
    ("Talk to a lot of different people at parties.", E, +1),
    ("Am not really interested in others.", A, -1),
    ("Like order.", C, +1),
    ("Change my mood a lot.", N, +1),
    ("Am quick to understand things.", O, +1),
    ("Don't like to draw attention to myself.", E, -1),
    ("Take time out for others.", A, +1),
    ("Shirk my duties.", C, -1),
    ("Have frequent mood swings.", N, +1),
    ("Use difficult words.", O, +1),
    ("Don't mind being the center of attention.", E, +1),
    ("Feel others' emotions.", A, +1),
    ("Follow a schedule.", C, +1),
    ("Get irritated easily.", N, +1),
    ("Spend time reflecting on things.", O, +1),
    ("Am quiet around strangers.", E, -1),
    ("Make people feel at ease.", A, +1),
    ("Am exacting in my work.", C, +1),
    ("Often feel blue.", N, +1),
    ("Am full of ideas.", O, +1),
]
# The order of Donnellan et al. (2006), Appendix; keys of ipip.ori.org/MiniIPIPKey.htm
_MINI = [
    ("Am the life of the party.", E, +1),
    ("Sympathize with others' feelings.", A, +1),
    ("Get chores done right away.", C, +1),
    ("Have frequent mood swings.", N, +1),
    ("Have a vivid imagination.", O, +1),
    ("Don't talk a lot.", E, -1),
    ("Am not interested in other people's problems.", A, -1),
    ("Often forget to put things back in their proper place.", C, -1),
    ("Am relaxed most of the time.", N, -1),
    ("Am not interested in abstract ideas.", O, -1),
    ("Talk to a lot of different people at parties.", E, +1),
    ("Feel others' emotions.", A, +1),
    ("Like order.", C, +1),
    ("Get upset easily.", N, +1),
    ("Have difficulty understanding abstract ideas.", O, -1),
    ("Keep in the background.", E, -1),
    ("Am not really interested in others.", A, -1),
    ("Make a mess of things.", C, -1),
    ("Seldom feel blue.", N, -1),
    ("Do not have a good imagination.", O, -1),
]

IPIP50 = Instrument(
    code="ipip50",
    name="IPIP Big-Five factor markers (50 items)",
    citation="Goldberg, L. R. (1992). The development of markers for the Big-Five factor structure. "
    "Psychological Assessment, 4, 26-42. Items: International Personality Item Pool (ipip.ori.org), public domain.",
    items=tuple(Item(n, text, trait, key) for n, (text, trait, key) in enumerate(_IPIP50, start=1)),
    reliability={E: 0.87, A: 0.82, C: 0.79, N: 0.86, O: 0.84},
)
MINI_IPIP = Instrument(
    code="mini_ipip",
    name="Mini-IPIP (20 items)",
    citation="Donnellan, M. B., Oswald, F. L., Baird, B. M., & Lucas, R. E. (2006). The Mini-IPIP scales: "
    "Tiny-yet-effective measures of the Big Five factors of personality. Psychological Assessment, 18, 192-203. "
    "Items: International Personality Item Pool (ipip.ori.org), public domain.",
    items=tuple(Item(n, text, trait, key) for n, (text, trait, key) in enumerate(_MINI, start=1)),
    reliability={E: 0.77, A: 0.70, C: 0.69, N: 0.68, O: 0.65},
)
INSTRUMENTS = {IPIP50.code: IPIP50, MINI_IPIP.code: MINI_IPIP}


def first_person(text: str) -> str:
    """'Am the life of the party.' -> 'I am the life of the party.' (the statement a person would write)."""
    return "I " + text[0].lower() + text[1:]
