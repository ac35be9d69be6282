"""Content gaps (issue 14, the quality loop): what people asked a bot that it could not answer well.

A gap question is a user message whose answer was `unanswered` (nothing relevant found) or got a
thumbs-down. The latest GAPS_MAX_QUESTIONS of them in the window and in the window before it (same
length, for the trend) are embedded and grouped into topics by a greedy threshold clustering in
numpy: identical questions (case and spacing aside) are merged first; distinct questions, most
asked first, join the topic whose centroid is nearest when the cosine similarity reaches
GAPS_CLUSTER_MIN_SIMILARITY, else open a new topic; then every question is reassigned once to its
nearest final centroid (one k-means step, so early centroids do not keep stragglers). A topic's
label is its question nearest to the centroid. Topics are sorted by their count in the window.

Question vectors are cached (Redis, keyed by embedding model and text) so repeated views of the
same window embed only new questions.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from apps.conversations.models import Message
from apps.core.embeddings import get_embedder

VECTOR_CACHE_SECONDS = 62 * 24 * 3600  # a 30-day window and the one before it
EXAMPLES = 5
# how long before its answer a question may have been asked (a turn takes seconds; a margin for slow models)
QUESTION_BEFORE_ANSWER = timedelta(hours=1)


@dataclass
class GapQuestion:
    message_id: int  # the user's question
    answer_id: int
    conversation_id: int
    question: str
    created_at: datetime
    unanswered: bool
    thumbs_down: bool
    current: bool  # in the requested window (else in the previous one)


@dataclass
class Topic:
    label: str
    count: int = 0
    unanswered: int = 0
    thumbs_down: int = 0
    previous_count: int = 0
    trend: str = "new"
    examples: list[dict] = field(default_factory=list)


def gap_questions(*, organization, bot, since: datetime, until: datetime, limit: int) -> list[GapQuestion]:
    """The latest `limit` questions asked in [since, until) whose answer was unanswered or thumbs-down.

    Two queries instead of a correlated subquery (which visits a long conversation's messages once per
    answer): the answers, then the user messages of their conversations; each answer's question is the
    latest user message before it (by id), found by bisection."""
    answers = list(
        Message.objects.filter(
            organization=organization,
            conversation__bot=bot,
            role=Message.Role.ASSISTANT,
            created_at__gte=since,
            created_at__lt=until,
        )
        .filter(Q(status=Message.Status.UNANSWERED) | Q(feedback=-1))
        .order_by("-created_at", "-id")
        .values_list("id", "conversation_id", "created_at", "status", "feedback")[:limit]
    )
    if not answers:
        return []
    asked: dict[int, list[tuple[int, str]]] = {}
    questions = (
        Message.objects.filter(
            organization=organization,
            conversation_id__in={row[1] for row in answers},
            role=Message.Role.USER,
            id__lt=max(row[0] for row in answers),
            created_at__gte=since - QUESTION_BEFORE_ANSWER,
        )
        .order_by("conversation_id", "id")
        .values_list("conversation_id", "id", "content")
    )
    for conversation_id, message_id, content in questions:
        asked.setdefault(conversation_id, []).append((message_id, content))
    result = []
    for answer_id, conversation_id, created_at, status, feedback in answers:
        rows = asked.get(conversation_id, [])
        at = bisect.bisect_left(rows, (answer_id, "")) - 1
        if at < 0:
            continue
        question_id, text = rows[at]
        result.append(
            GapQuestion(
                message_id=question_id,
                answer_id=answer_id,
                conversation_id=conversation_id,
                question=text,
                created_at=created_at,
                unanswered=status == Message.Status.UNANSWERED,
                thumbs_down=feedback == -1,
                current=False,
            )
        )
    return result


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _vector_key(model_name: str, text: str) -> str:
    return f"gaps:vec:{hashlib.sha256((model_name + chr(10) + text).encode()).hexdigest()[:32]}"


def question_vectors(texts: list[str]) -> np.ndarray:
    """Embeddings of `texts` (L2-normalised rows), through a cache keyed by model and text."""
    embedder = get_embedder()
    keys = [_vector_key(embedder.name, text) for text in texts]
    cached = cache.get_many(keys)
    missing = [i for i, key in enumerate(keys) if key not in cached]
    vectors = np.zeros((len(texts), int(embedder.dimensions)), dtype=np.float32)
    if missing:
        fresh = embedder.encode([texts[i] for i in missing])
        for i, vector in zip(missing, fresh, strict=True):
            vectors[i] = vector
        cache.set_many({keys[i]: fresh[j].tobytes() for j, i in enumerate(missing)}, VECTOR_CACHE_SECONDS)
    for i, key in enumerate(keys):
        if key in cached:
            vectors[i] = np.frombuffer(cached[key], dtype=np.float32)
    return vectors


def question_vector_remember(question: str, vector) -> None:
    """Cache the vector of a question that just became a gap (a turn already computed it), so the content-gaps
    view embeds only what it has not seen: a first view of a large backlog is what costs (docs/quality.md)."""
    key = _vector_key(get_embedder().name, _normalise(question))
    cache.set(key, np.asarray(vector, dtype=np.float32).tobytes(), VECTOR_CACHE_SECONDS)


def gap_answer_remember(*, answer: Message) -> None:
    """A thumbs-down on `answer`: cache the vector of the question before it."""
    question = (
        Message.objects.filter(conversation_id=answer.conversation_id, role=Message.Role.USER, id__lt=answer.pk)
        .order_by("-id")
        .values_list("content", flat=True)
        .first()
    )
    if question is not None:
        question_vectors([_normalise(question)])


def cluster(vectors: np.ndarray, weights: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy threshold clustering of unit rows, heaviest first, then one reassignment to the nearest
    final centroid. Returns a topic index per row."""
    order = np.argsort(-weights, kind="stable")
    sums: list[np.ndarray] = []
    centroids = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    for i in order:
        if len(sums):
            similarities = centroids @ vectors[i]
            best = int(np.argmax(similarities))
            if similarities[best] >= threshold:
                sums[best] = sums[best] + weights[i] * vectors[i]
                centroids[best] = sums[best] / max(np.linalg.norm(sums[best]), 1e-9)
                continue
        sums.append(weights[i] * vectors[i])
        centroids = np.vstack([centroids, vectors[i][None, :]])
    return np.argmax(vectors @ centroids.T, axis=1)


def _trend(count: int, previous: int) -> str:
    if previous == 0:
        return "new"
    ratio = count / previous
    return "rising" if ratio >= 1.25 else "falling" if ratio <= 0.8 else "steady"


def content_gaps(*, organization, bot, days: int = 30, now: datetime | None = None) -> dict:
    """The bot's content gaps over the last `days` days, grouped into topics (most asked first)."""
    now = now or timezone.now()
    start, previous_start = now - timedelta(days=days), now - timedelta(days=2 * days)
    limit = settings.GAPS_MAX_QUESTIONS
    current = gap_questions(organization=organization, bot=bot, since=start, until=now, limit=limit)
    for question in current:
        question.current = True
    previous = gap_questions(organization=organization, bot=bot, since=previous_start, until=start, limit=limit)
    questions = current + previous
    result = {
        "days": days,
        "window_start": start,
        "window_end": now,
        "questions": len(current),
        "previous_questions": len(previous),
        "truncated": len(current) >= limit,
        "topics": [],
    }
    if not current:
        return result
    distinct: dict[str, int] = {}
    for question in questions:
        distinct.setdefault(_normalise(question.question), len(distinct))
    texts = list(distinct)
    index_of = [distinct[_normalise(q.question)] for q in questions]
    weights = np.bincount(index_of, minlength=len(texts)).astype(np.float32)
    vectors = question_vectors(texts)
    labels = cluster(vectors, weights, settings.GAPS_CLUSTER_MIN_SIMILARITY)
    members: dict[int, list[GapQuestion]] = {}
    for question, text_index in zip(questions, index_of, strict=True):
        members.setdefault(int(labels[text_index]), []).append(question)
    topics = []
    for topic_index, group in members.items():
        in_window = [q for q in group if q.current]
        if not in_window:
            continue  # a topic of the previous window only: no longer a gap
        rows = sorted({distinct[_normalise(q.question)] for q in in_window})
        centroid = vectors[rows].T @ weights[rows]
        label = texts[rows[int(np.argmax(vectors[rows] @ centroid))]]
        label_question = next(q.question for q in in_window if _normalise(q.question) == label)
        topic = Topic(
            label=label_question,
            count=len(in_window),
            unanswered=sum(q.unanswered for q in in_window),
            thumbs_down=sum(q.thumbs_down for q in in_window),
            previous_count=len(group) - len(in_window),
        )
        topic.trend = _trend(topic.count, topic.previous_count)
        seen: set[str] = set()
        for q in in_window:  # latest first
            if _normalise(q.question) in seen:
                continue
            seen.add(_normalise(q.question))
            topic.examples.append(
                {
                    "question": q.question,
                    "message_id": q.message_id,
                    "answer_id": q.answer_id,
                    "conversation_id": q.conversation_id,
                    "created_at": q.created_at,
                    "reason": "unanswered" if q.unanswered else "thumbs_down",
                }
            )
            if len(topic.examples) == EXAMPLES:
                break
        topics.append((topic_index, topic))
    topics.sort(key=lambda entry: (-entry[1].count, -entry[1].thumbs_down, entry[1].label))
    result["topics"] = [topic for _index, topic in topics]
    return result
