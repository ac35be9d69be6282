"""Behaviour and text estimates on the real PostgreSQL, Redis and embedder (issue 8).

Covers: synthetic personas acted out through the progress services (a steady finisher scores higher
conscientiousness than an erratic dropper; a broad explorer higher openness than a narrow viewer;
learning-style indicators with their numbers; no estimate below the minimum of evidence); the text
path with only the language model's HTTP transport mocked (only the user's own words are sent, quotes
are checked against them, invalid answers fall back to the offline path); the offline path for real
(extravert vs introvert writing); no estimate below the minimum amount of text.
"""

import json

import pytest

from apps.conversations.tests.utils import completion, status
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.personality.behaviour import (
    behaviour_estimate,
    behaviour_features,
    behaviour_rows_load,
    learning_style,
)
from apps.personality.tests.personality_utils import (
    EXTRAVERT_TEXTS,
    INTROVERT_TEXTS,
    broad_explorer,
    build_catalog,
    chat,
    erratic_dropper,
    narrow_viewer,
    steady_finisher,
)
from apps.personality.text import text_estimate, user_texts_load

pytestmark = pytest.mark.django_db


def member(organization):
    return MembershipFactory(organization=organization, role=Role.MEMBER).user


def estimate_of(organization, user):
    features = behaviour_features(behaviour_rows_load(organization_id=organization.pk, user_id=user.pk))
    return features, behaviour_estimate(features)


def test_steady_finisher_scores_higher_conscientiousness_than_erratic_dropper(organization):
    """Same items; one finishes each on consecutive mornings, the other starts them on scattered nights."""
    catalog = build_catalog(organization)
    steady, erratic = member(organization), member(organization)
    steady_finisher(organization, steady, catalog)
    erratic_dropper(organization, erratic, catalog)
    steady_features, steady_estimate = estimate_of(organization, steady)
    erratic_features, erratic_estimate = estimate_of(organization, erratic)
    assert steady_features["completion_rate"] == 1.0 and erratic_features["completion_rate"] == pytest.approx(2 / 12)
    assert steady_features["longest_streak_days"] == 12 and erratic_features["longest_streak_days"] <= 3
    assert steady_features["regularity"] > erratic_features["regularity"]
    assert steady_features["morning_share"] == 1.0 and erratic_features["night_share"] == 1.0
    c_steady = steady_estimate.scores["conscientiousness"]
    c_erratic = erratic_estimate.scores["conscientiousness"]
    assert c_steady > 0.75 > 0.5 > 0.35 > c_erratic
    # low confidence, by design, and the evidence names the features
    assert 0 < steady_estimate.confidence["conscientiousness"] <= 0.3
    assert {e["feature"] for e in steady_estimate.evidence["conscientiousness"]} == {
        "completion", "regularity", "streak", "morning",
    }  # fmt: skip
    assert "agreeableness" not in steady_estimate.scores and "neuroticism" not in steady_estimate.scores


def test_broad_explorer_scores_higher_openness_than_narrow_viewer(organization):
    """Two items of each of six categories vs eight items of one category."""
    catalog = build_catalog(organization)
    explorer, narrow = member(organization), member(organization)
    broad_explorer(organization, explorer, catalog)
    narrow_viewer(organization, narrow, catalog)
    explorer_features, explorer_estimate = estimate_of(organization, explorer)
    narrow_features, narrow_estimate = estimate_of(organization, narrow)
    assert explorer_features["breadth"] == 1.0 and narrow_features["breadth"] == pytest.approx(1 / 6)
    assert explorer_estimate.scores["openness"] > 0.6 > 0.4 > narrow_estimate.scores["openness"]
    assert 0 < explorer_estimate.confidence["openness"] <= 0.25


def test_learning_style_indicators(organization):
    """The steady finisher's structure and format shares; short vs long completion for a user who drops long items."""
    catalog = build_catalog(organization)
    user = member(organization)
    from datetime import timedelta

    from apps.personality.tests.personality_utils import START
    from apps.progress.services import progress_complete, progress_start

    for day, item in enumerate(catalog["data"][:3] + catalog["music"][:3]):  # short articles: all finished
        at = START + timedelta(days=day)
        progress_start(organization=organization, user=user, item=item, at=at)
        progress_complete(organization=organization, user=user, item=item, at=at)
    for day, item in enumerate(catalog["data"][3:5] + catalog["music"][3:5]):  # long videos: started, dropped
        progress_start(organization=organization, user=user, item=item, at=START + timedelta(days=10 + day))
    features, _ = estimate_of(organization, user)
    style = learning_style(features)
    assert style["length"] == {
        "preference": "short", "short_completion_rate": 1.0, "long_completion_rate": 0.0, "short_started": 6,
        "long_started": 4,
    }  # fmt: skip
    assert style["format"]["preference"] == "mixed" and style["format"]["media_share"] == 0.4
    assert style["structure"]["preference"] == "exploring"


def test_no_behaviour_estimate_below_the_minimum(organization, settings):
    """Fewer engaged items than PERSONALITY_BEHAVIOUR_MIN_ITEMS: no estimate, not a guess."""
    settings.PERSONALITY_BEHAVIOUR_MIN_ITEMS = 20
    catalog = build_catalog(organization)
    user = member(organization)
    steady_finisher(organization, user, catalog)
    features, estimate = estimate_of(organization, user)
    assert features["engaged_items"] == 12 and estimate is None


def _llm_reply(traits: dict):
    return completion(json.dumps({"traits": traits}))


def test_text_llm_path_sends_only_the_users_words_and_checks_quotes(organization, llm):
    """The prompt holds the user's messages, not the bot's; quotes not in them are dropped; a trait left without a
    verified quote is dropped; scores and capped confidences come back with the quotes."""
    user = member(organization)
    chat(organization, user, EXTRAVERT_TEXTS, bot_reply="BOT-ONLY-SENTENCE: I keep in the background.")
    fake = llm(
        _llm_reply(
            {
                "extraversion": {"score": 0.9, "confidence": 0.9, "evidence": [
                    "I start conversations with everyone I meet", "I am secretly shy"]},
                "neuroticism": {"score": 0.8, "confidence": 0.7, "evidence": ["I panic before every exam"]},
                "agreeableness": {"score": 0.6, "confidence": 0.3, "evidence": ["make new friends there"]},
            }
        )
    )  # fmt: skip
    texts = [content for _, content in user_texts_load(organization_id=organization.pk, user_id=user.pk)]
    assert len(texts) == len(EXTRAVERT_TEXTS)
    estimate, path = text_estimate(texts)
    assert path == "language model" and fake.calls == 1
    body = fake.bodies[0]
    prompt = json.dumps(body["messages"])
    assert "BOT-ONLY-SENTENCE" not in prompt and "life of the party" in prompt
    assert body["response_format"] == {"type": "json_object"} and body["temperature"] == 0
    assert set(estimate.scores) == {"extraversion", "agreeableness"}  # neuroticism's quote is not the user's
    assert estimate.scores["extraversion"] == 0.9
    assert estimate.evidence["extraversion"] == [{"quote": "I start conversations with everyone I meet"}]
    words = sum(len(t.split()) for t in texts)
    # capped at .5, scaled by the amount of text and by the share of verified quotes (1 of 2)
    assert estimate.confidence["extraversion"] == pytest.approx(0.5 * (words / 1500) * 0.5, abs=1e-4)


@pytest.mark.parametrize(
    "reply",
    [
        completion("not json at all"),
        completion(json.dumps({"traits": {"extraversion": {"score": 7, "confidence": 0.5, "evidence": ["x"]}}})),
        completion(json.dumps({"scores": {}})),
        status(500),
    ],
    ids=["not-json", "score-off-range", "no-traits", "http-500"],
)
def test_text_llm_invalid_answer_falls_back_offline(organization, llm, reply):
    """An unusable answer (not JSON, values off 0..1, wrong shape, server error) -> the offline estimate."""
    llm(reply)
    estimate, path = text_estimate(EXTRAVERT_TEXTS)
    assert path.startswith("offline (language model unusable:")
    assert estimate is not None and "language model unusable" in estimate.summary


def test_text_offline_extravert_vs_introvert(organization, offline):
    """Offline, for real: an extravert's writing scores higher extraversion than an introvert's, quoting them."""
    extravert, reason_e = text_estimate(EXTRAVERT_TEXTS)
    introvert, reason_i = text_estimate(INTROVERT_TEXTS)
    assert reason_e == reason_i == "offline"
    assert extravert.scores["extraversion"] > 0.6 > 0.4 > introvert.scores["extraversion"]
    assert 0 < extravert.confidence["extraversion"] <= 0.2
    quote = extravert.evidence["extraversion"][0]
    assert quote["quote"] in " ".join(EXTRAVERT_TEXTS) and quote["key"] == "+"


def test_no_text_estimate_below_the_minimum(organization, offline, llm):
    """Too little text: no estimate and no model call."""
    fake = llm(_llm_reply({}))
    estimate, reason = text_estimate(["Where is the billing page?", "Thanks!"])
    assert estimate is None and "below the minimum of 150" in reason
    assert fake.calls == 0
