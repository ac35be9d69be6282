"""Personality writes: questionnaire answers, profile recomputation (idempotent per input hash),
debounced recompute on new evidence, the periodic sweep, and deletion (PostgreSQL and Redis).

Nothing personality-related is ever written to the knowledge graph (no outbox kind, no Cypher), so
deletion has nothing to remove there; tests assert it.
"""

from __future__ import annotations

import hashlib
import json
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models, transaction
from django.db.models.functions import Length
from django.utils import timezone

from apps.core.cache import cache_client, cache_keys_delete, cache_script_run
from apps.core.locks import transaction_lock
from apps.core.outages import outage_note, outage_pause, outage_paused, redis_outage_errors
from apps.core.purge import delete_in_order
from apps.core.tasks import enqueue_on_commit
from apps.personality.behaviour import (
    behaviour_estimate,
    behaviour_features,
    behaviour_rows_load,
    features_digest,
    learning_style,
)
from apps.personality.combine import Estimate, estimates_combine
from apps.personality.instrument import INSTRUMENTS, TRAITS
from apps.personality.models import AssessmentResponse, PersonalityDeletion, PersonalityProfile
from apps.personality.scoring import assessment_score
from apps.personality.selectors import deletion_since, profile_cache_key
from apps.personality.text import text_estimate, user_texts_load
from apps.recommendations.engine import cache as rec_cache
from apps.recommendations.models import RecommendationLog
from workers.tasks.personality import profile_recompute_task

logger = logging.getLogger(__name__)

#: bump when the scoring, the features or the mapping change: every profile is then recomputed once
ALGORITHM_VERSION = 1


def assessment_submit(*, organization, user, instrument: str, answers) -> AssessmentResponse:
    """Score and store a questionnaire (ValidationError when it cannot be scored); the profile is
    recomputed in the background after commit."""
    result = assessment_score(instrument_code=instrument, answers=answers)
    response = AssessmentResponse(
        organization=organization,
        user=user,
        instrument=instrument,
        answers={str(k): int(v) for k, v in answers.items()},  # validated: whole numbers 1..5
        result=result,
    )
    response.full_clean()
    response.save()
    enqueue_on_commit(profile_recompute_task, organization.pk, user.pk)
    return response


# --------------------------------------------------------------------------- inputs and estimates


def _questionnaire_estimate(response: AssessmentResponse | None) -> Estimate | None:
    if response is None:
        return None
    result = response.result
    instrument = INSTRUMENTS[response.instrument]
    answers = response.answers
    estimate = Estimate(
        source="questionnaire",
        summary=f"{instrument.name}, {result['answered']} of {len(instrument.items)} items, "
        f"answered {response.created_at:%Y-%m-%d}" + (f" ({', '.join(result['flags'])})" if result["flags"] else ""),
    )
    for trait in TRAITS:
        score = result["scores"].get(trait)
        if score is None:
            continue
        estimate.scores[trait] = score
        estimate.confidence[trait] = result["confidence"][trait]
        estimate.evidence[trait] = [
            {"item": item.text, "key": "+" if item.key > 0 else "-", "answer": answers.get(str(item.number))}
            for item in instrument.trait_items(trait)
        ]
    return estimate


def _user_lock(organization_id: int, user_id: int) -> None:
    """Transaction-level lock on one user's personality data: a deletion and a profile write of the
    same user never interleave (a recompute that read its inputs before a deletion writes nothing)."""
    transaction_lock(f"personality:{organization_id}:{user_id}")


def profile_inputs_load(*, organization_id: int, user_id: int) -> dict:
    """Everything a profile is computed from, and the hash of it (what was read, not what came out).
    After a deletion, only evidence newer than it (deletion_since)."""
    from apps.conversations import chat

    since = deletion_since(organization_id=organization_id, user_id=user_id)
    assessments = AssessmentResponse.objects.filter(organization_id=organization_id, user_id=user_id)
    if since is not None:
        assessments = assessments.filter(created_at__gt=since)
    latest = assessments.order_by("-created_at", "-id").first()
    features = behaviour_features(behaviour_rows_load(organization_id=organization_id, user_id=user_id, since=since))
    texts = user_texts_load(organization_id=organization_id, user_id=user_id, since=since)
    text_digest = hashlib.sha256(json.dumps(texts, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
    payload = {
        "version": ALGORITHM_VERSION,
        "assessment": [latest.pk, latest.result] if latest else None,
        "behaviour": features_digest(features),
        "text": text_digest,
        "text_path": settings.PERSONALITY_LLM_MODEL if chat.llm_enabled() else "offline",
        "settings": [
            settings.PERSONALITY_BEHAVIOUR_MIN_ITEMS, settings.PERSONALITY_BEHAVIOUR_FULL_ITEMS,
            settings.PERSONALITY_TEXT_MIN_WORDS, settings.PERSONALITY_TEXT_FULL_WORDS,
            settings.PERSONALITY_TEXT_MATCH_MIN_SIMILARITY, settings.PERSONALITY_SHORT_ITEM_MINUTES,
            settings.PERSONALITY_LONG_ITEM_MINUTES,
        ],
    }  # fmt: skip
    if since is not None:  # only then: the hashes of users who never deleted stay as they were
        payload["since"] = since.isoformat()
    input_hash = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return {
        "assessment": latest, "features": features, "texts": texts, "input_hash": input_hash, "since": since,
        "text_key": hashlib.sha256(f"{text_digest}:{payload['text_path']}".encode()).hexdigest(),
    }  # fmt: skip


def _text_cache_key(organization_id: int, user_id: int) -> str:
    return f"personality:text:{organization_id}:{user_id}"


def _text_estimate_cached(organization_id: int, user_id: int, inputs: dict) -> tuple[Estimate | None, str]:
    """The text estimate, reused while the user's messages (and the text path) are unchanged: new
    behaviour alone must not pay for another language-model call. One Redis key per user, deleted
    with the profile."""
    key = _text_cache_key(organization_id, user_id)
    cached = cache.get(key)
    if cached and cached["key"] == inputs["text_key"]:
        estimate = Estimate(**cached["estimate"]) if cached["estimate"] else None
        return estimate, cached["reason"]
    estimate, reason = text_estimate([content for _, content in inputs["texts"]])
    if "unusable" not in reason:  # a failed model call is retried at the next recompute
        value = {"key": inputs["text_key"], "estimate": estimate.as_dict() if estimate else None, "reason": reason}
        cache.set(key, value, timeout=30 * 24 * 3600)
    return estimate, reason


def profile_recompute(*, organization_id: int, user_id: int) -> tuple[PersonalityProfile | None, bool]:
    """(current profile, whether a new row was written). Idempotent: one row per (user, input_hash);
    unchanged inputs write nothing. No evidence at all: no row. The language model (if any) is called
    before the short write transaction, never inside it."""
    inputs = profile_inputs_load(organization_id=organization_id, user_id=user_id)
    latest = (
        PersonalityProfile.objects.filter(organization_id=organization_id, user_id=user_id)
        .order_by("-computed_at", "-id")
        .first()
    )
    if latest is not None and latest.input_hash == inputs["input_hash"]:
        return latest, False

    estimates = []
    questionnaire = _questionnaire_estimate(inputs["assessment"])
    if questionnaire is not None:
        estimates.append(questionnaire)
    behaviour = behaviour_estimate(inputs["features"])
    if behaviour is not None:
        estimates.append(behaviour)
    text, text_reason = _text_estimate_cached(organization_id, user_id, inputs)
    if text is not None:
        estimates.append(text)
    style = learning_style(inputs["features"])
    if not estimates and not style:
        return latest, False
    combined = estimates_combine(estimates)
    evidence = dict(combined["evidence"])
    evidence["_sources"] = {
        "questionnaire": questionnaire.summary if questionnaire else "no questionnaire answered",
        "behaviour": behaviour.summary if behaviour else f"{inputs['features']['engaged_items']} items engaged, "
        f"below the minimum of {settings.PERSONALITY_BEHAVIOUR_MIN_ITEMS}: no behaviour estimate",
        "text": text.summary if text else text_reason,
    }  # fmt: skip
    evidence["_features"] = features_digest(inputs["features"])
    fields = {}
    for trait in TRAITS:
        fields[trait] = combined["scores"][trait]
        fields[f"{trait}_confidence"] = combined["confidence"][trait]
    with transaction.atomic():
        _user_lock(organization_id, user_id)
        if deletion_since(organization_id=organization_id, user_id=user_id) != inputs["since"]:
            # Deleted while we computed: what we read may predate the deletion; the next trigger rebuilds.
            return None, False
        profile, created = PersonalityProfile.objects.get_or_create(
            organization_id=organization_id,
            user_id=user_id,
            input_hash=inputs["input_hash"],
            defaults={
                **fields,
                "evidence": evidence,
                "learning_style": style,
                "source": combined["source"] or PersonalityProfile.Source.BEHAVIOUR,
                "computed_at": timezone.now(),
            },
        )
        if created:
            keep = list(
                PersonalityProfile.objects.filter(organization_id=organization_id, user_id=user_id)
                .order_by("-computed_at", "-id")
                .values_list("id", flat=True)[: settings.PERSONALITY_PROFILE_HISTORY]
            )
            PersonalityProfile.objects.filter(organization_id=organization_id, user_id=user_id).exclude(
                id__in=keep
            ).delete()
            transaction.on_commit(lambda: personality_caches_clear(organization_id, user_id, lists=False))
    return profile, created


# --------------------------------------------------------------------------- caches and deletion


def _pending_key(organization_id: int, user_id: int) -> str:
    return f"personality:new:{organization_id}:{user_id}"


def _debounce_key(organization_id: int, user_id: int) -> str:
    return f"personality:debounce:{organization_id}:{user_id}"


def _recommendation_lists_delete(organization_id: int, user_id: int) -> int:
    """Delete the user's cached recommendation lists (which may carry personality reasons), not just
    make them unreachable: keys are rec:l:<org>:<org version>:<user>:<more versions...>:<digest>.
    The raw client bypasses the fail-open cache: an outage is noted here, and the lists (already
    made stale by the version bump) expire by REC_CACHE_TTL_SECONDS."""
    client = cache_client()
    pattern = cache.make_key(f"rec:l:{organization_id}:*")
    doomed = []
    try:
        for raw in client.scan_iter(match=pattern, count=1000):
            key = raw.decode() if isinstance(raw, bytes) else raw
            parts = key[key.index("rec:l:") :].split(":")
            if len(parts) > 4 and parts[4] == str(user_id):
                doomed.append(raw)
        if doomed:
            client.delete(*doomed)
    except redis_outage_errors() as exc:
        outage_note("cache", exc, what="personality lists delete")
        return 0
    return len(doomed)


def personality_caches_clear(organization_id: int, user_id: int, *, lists: bool) -> None:
    cache.delete(profile_cache_key(organization_id, user_id))
    rec_cache.recommendation_cache_invalidate_user(organization_id=organization_id, user_id=user_id)
    if lists:
        cache.delete_many(
            [
                _pending_key(organization_id, user_id),
                _debounce_key(organization_id, user_id),
                _text_cache_key(organization_id, user_id),
            ]
        )
        _recommendation_lists_delete(organization_id, user_id)


#: what rerank.REASONS start with; a log reason cut at its 300 characters may end inside one
FIT_SUFFIX_MARK = ", which suits your"
LOG_REASON_MAX = 300


def fit_suffix_strip(reason: str) -> str:
    """`reason` without a personality fit suffix (rerank.REASONS), also one cut short by the log's limit."""
    from apps.personality.rerank import REASONS

    for suffix in REASONS.values():
        if reason.endswith(suffix):
            return reason[: -len(suffix)]
    if len(reason) >= LOG_REASON_MAX:
        for suffix in REASONS.values():
            for size in range(len(suffix) - 1, 2, -1):
                if reason.endswith(suffix[:size]):
                    return reason[:-size]
    return reason


def recommendation_logs_scrub(*, organization_id: int, user_id: int) -> int:
    """Remove personality fit suffixes from the user's RecommendationLog reasons (rows written before
    the suffix was kept out of logs). Returns the number of rows changed."""
    rows = (
        RecommendationLog.objects.filter(organization_id=organization_id, user_id=user_id)
        .annotate(reason_length=Length("reason"))
        .filter(
            models.Q(reason__contains=FIT_SUFFIX_MARK)
            | models.Q(reason_length__gte=LOG_REASON_MAX, reason__contains=FIT_SUFFIX_MARK[:3])
        )
    )
    changed = []
    for log in rows.only("id", "reason").iterator(chunk_size=2000):
        stripped = fit_suffix_strip(log.reason)
        if stripped != log.reason:
            log.reason = stripped
            changed.append(log)
    RecommendationLog.objects.bulk_update(changed, ["reason"], batch_size=2000)
    return len(changed)


def profile_delete(*, organization, user_id: int) -> dict:
    """Delete the user's personality data in the organization: profiles and questionnaire answers in
    PostgreSQL, personality text in the user's recommendation logs, the cached profile, counters and
    recommendation lists in Redis. The graph holds none. The moment is kept (PersonalityDeletion): a
    profile is rebuilt only from evidence newer than it."""
    with transaction.atomic():
        _user_lock(organization.pk, user_id)
        PersonalityDeletion.objects.update_or_create(
            organization=organization, user_id=user_id, defaults={"deleted_at": timezone.now()}
        )
        profiles, _ = PersonalityProfile.objects.filter(organization=organization, user_id=user_id).delete()
        assessments, _ = AssessmentResponse.objects.filter(organization=organization, user_id=user_id).delete()
        recommendation_logs_scrub(organization_id=organization.pk, user_id=user_id)
    transaction.on_commit(lambda: personality_caches_clear(organization.pk, user_id, lists=True))
    return {"profiles": profiles, "assessments": assessments}


# --------------------------------------------------------------------------- recompute triggers


def personality_evidence_note(*, organization_id: int, user_id: int, events: int = 1) -> bool:
    """Count new evidence of a user (Redis); from PERSONALITY_RECOMPUTE_MIN_EVENTS on, enqueue one
    recompute, delayed by PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS, and at most one per that window
    (the debounce key). Returns whether a recompute was enqueued."""
    return bool(personality_evidence_note_many(organization_id=organization_id, counts=[(user_id, events)]))


#: KEYS: each user's pending counter and debounce key, in pairs. ARGV: the threshold, the counter's lifetime, the
#: debounce window, then each user's new events. A counter reaching the threshold while no recompute is due in
#: the window sets the debounce key, is reset, and its user's position (from 1) is returned. A window of 0 (or
#: less) debounces nothing: every counter reaching the threshold is due (`SET ... EX 0` is an error).
EVIDENCE_SCRIPT = """
local due = {}
for i = 1, #KEYS / 2 do
  local pending, debounce, events = KEYS[2 * i - 1], KEYS[2 * i], tonumber(ARGV[3 + i])
  local count = redis.call('INCRBY', pending, events)
  if count == events then redis.call('EXPIRE', pending, ARGV[2]) end
  if count >= tonumber(ARGV[1])
     and (tonumber(ARGV[3]) <= 0 or redis.call('SET', debounce, 1, 'NX', 'EX', ARGV[3])) then
    redis.call('DEL', pending)
    due[#due + 1] = i
  end
end
return due
"""
EVIDENCE_USERS_PER_ROUND_TRIP = 1000


def personality_evidence_note_many(*, organization_id: int, counts) -> list[int]:
    """`personality_evidence_note` for many users ([(user_id, events)]), one Redis round trip per
    EVIDENCE_USERS_PER_ROUND_TRIP users (a 5,000-event batch of a large organization names about 4,400: one by
    one that was about 9,000 round trips in the worker). Returns the users whose recompute was enqueued. Fails
    open (an outage is noted and nothing enqueued: the beat sweep recompute_stale finds them)."""
    counts = [(int(user_id), int(events)) for user_id, events in counts if events > 0]
    window = settings.PERSONALITY_RECOMPUTE_DEBOUNCE_SECONDS
    args = [settings.PERSONALITY_RECOMPUTE_MIN_EVENTS, 7 * 24 * 3600, window]
    due: list[int] = []
    if outage_paused(cache.fail_open_target):  # as the cache itself: no wait on a server that just failed
        outage_note("cache", None, what="personality evidence")
        return due
    try:
        for start in range(0, len(counts), EVIDENCE_USERS_PER_ROUND_TRIP):
            chunk = counts[start : start + EVIDENCE_USERS_PER_ROUND_TRIP]
            keys = []
            for user_id, _events in chunk:
                keys.append(cache.make_and_validate_key(_pending_key(organization_id, user_id)))
                keys.append(cache.make_and_validate_key(_debounce_key(organization_id, user_id)))
            positions = cache_script_run(EVIDENCE_SCRIPT, keys=keys, args=[*args, *(events for _, events in chunk)])
            due.extend(chunk[int(position) - 1][0] for position in positions)
    except redis_outage_errors() as exc:
        outage_pause(cache.fail_open_target)
        outage_note("cache", exc, what="personality evidence")
    finally:  # the users already found due get their recompute even if a later chunk failed
        for user_id in due:
            enqueue_on_commit(profile_recompute_task, organization_id, user_id, countdown=max(window, 0))
    return due


STALE_SQL = """
WITH last AS (
    SELECT organization_id, user_id, max(computed_at) AS at FROM recommendations_personalityprofile
    GROUP BY organization_id, user_id
), fresh AS (
    SELECT organization_id, user_id, max(created_at) AS at, count(*) AS n FROM progress_interaction
    WHERE created_at > now() - make_interval(mins => %(window)s)
    GROUP BY organization_id, user_id
    UNION ALL
    SELECT organization_id, user_id, max(created_at), count(*) FROM recommendations_assessmentresponse
    WHERE created_at > now() - make_interval(mins => %(window)s)
    GROUP BY organization_id, user_id
    UNION ALL
    SELECT m.organization_id, c.user_id, max(m.created_at), count(*) FROM conversations_message m
    JOIN conversations_conversation c ON c.id = m.conversation_id
    WHERE m.role = 'user' AND c.user_id IS NOT NULL AND m.created_at > now() - make_interval(mins => %(window)s)
    GROUP BY m.organization_id, c.user_id
)
SELECT fresh.organization_id, fresh.user_id FROM fresh
JOIN organizations_organization o ON o.id = fresh.organization_id AND o.deleted_at IS NULL
LEFT JOIN last ON last.organization_id = fresh.organization_id AND last.user_id = fresh.user_id
LEFT JOIN recommendations_personalitydeletion d
    ON d.organization_id = fresh.organization_id AND d.user_id = fresh.user_id
WHERE (last.at IS NULL OR fresh.at > last.at) AND (d.deleted_at IS NULL OR fresh.at > d.deleted_at)
GROUP BY fresh.organization_id, fresh.user_id
ORDER BY max(fresh.at) DESC
LIMIT %(limit)s
"""


def profile_recompute_stale() -> list[tuple[int, int]]:
    """Beat: enqueue a recompute for every user with evidence newer than their profile (within twice the
    beat interval, so a missed tick is caught up) and newer than their last deletion of it: catches
    evidence whose on-commit note failed (Redis down) or was missed. Idempotent: a recompute of unchanged inputs writes
    nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            STALE_SQL,
            {
                "window": 2 * settings.PERSONALITY_RECOMPUTE_INTERVAL_MINUTES,
                "limit": settings.PERSONALITY_RECOMPUTE_BATCH,
            },
        )
        pairs = [(int(o), int(u)) for o, u in cursor.fetchall()]
    for organization_id, user_id in pairs:
        enqueue_on_commit(profile_recompute_task, organization_id, user_id)
    return pairs


def organization_personality_purge_batch(*, organization_id: int, last: bool) -> int:
    """A batch of a deleted organization's personality data (`organization_purging`): profiles, assessment responses
    and deletion records; in the last stage, every key of it in Redis (cached profiles, the text estimates made from
    members' messages, pending evidence). Returns how many rows or keys went (0: none left)."""
    if last:
        return cache_keys_delete(
            [f"personality:{kind}:{organization_id}:" for kind in ("p", "text", "new", "debounce")]
        )
    return delete_in_order(
        [
            model.objects.filter(organization_id=organization_id)
            for model in (PersonalityProfile, AssessmentResponse, PersonalityDeletion)
        ],
        limit=settings.ORGANIZATION_PURGE_BATCH_ROWS,
    )
