"""One learner loop (issue 18 item 6, docs/interests.md): what a member asks the bots feeds their
recommendations.

1. conversations sends `question_embedded` once a turn has embedded the member's question. The receiver
   (`question_embedded_note`) only stashes the vector in Redis and enqueues a task on commit: the chat
   turn pays one cache write and one publish, nothing more.
2. The task (`question_evidence_learn`, Celery `recommendations.learn_from_question`) matches the
   question to catalog items by embedding (the items' ContentEmbedding, HNSW cosine), keeps up to
   INTERESTS_CHAT_MAX_ITEMS items at least INTERESTS_CHAT_MIN_SIMILARITY similar, and records their topics
   (up to two tags, else a category, else the title) as decaying interest evidence of source `chat` in
   the category "topics" (apps.interests: weight grows with repeated questions, halves every
   INTERESTS_DECAY_HALF_LIFE_DAYS). The matched items are kept with the evidence.
3. apps.interests sends `member_interests_changed`: the graph gets the topics as InterestValue nodes
   under the InterestCategory "topics" (INTERESTED_IN {weight}), the member's cached lists are dropped,
   and the `chat` source recommends "Because you asked about X" (engine/interest_sources.py).

Anonymous widget visitors and people who are not members of the organization are skipped.
"""

from __future__ import annotations

import numpy as np
from django.conf import settings
from django.core.cache import cache

from apps.core.embeddings import get_embedder
from apps.core.tasks import enqueue_on_commit
from apps.interests.models import InterestSource
from apps.interests.services import member_interest_evidence_add
from workers.tasks.interests import learn_from_question_task

TOPICS_CATEGORY = "topics"
VECTOR_SECONDS = 3600


def _vector_key(message_id: int) -> str:
    return f"learner:question:{message_id}"


def question_embedded_note(*, organization_id: int, message_id: int, vector, model: str) -> None:
    """The cheap half, in the chat turn: keep the turn's vector for the task, enqueue it on commit."""
    cache.set(
        _vector_key(message_id),
        {"model": model, "vector": np.asarray(vector, dtype=np.float32).tobytes()},
        VECTOR_SECONDS,
    )
    enqueue_on_commit(learn_from_question_task, organization_id, message_id)


def _question_vector(message_id: int, content: str) -> np.ndarray:
    """The turn's vector when still cached for the current embedder, else the question embedded again."""
    embedder = get_embedder()
    cached = cache.get(_vector_key(message_id))
    if cached and cached.get("model") == embedder.name:
        return np.frombuffer(cached["vector"], dtype=np.float32)
    return np.asarray(embedder.encode([content])[0], dtype=np.float32)


def question_items_match(*, organization_id: int, vector: np.ndarray) -> list[tuple[int, float]]:
    """(item id, cosine similarity) of the active catalog items closest to `vector`, best first, at least
    INTERESTS_CHAT_MIN_SIMILARITY, at most INTERESTS_CHAT_MAX_ITEMS (HNSW index query)."""
    from apps.progress.models import ContentItem
    from apps.recommendations.engine.sources import CONTENT_SQL, index_query, vector_literal

    embedder = get_embedder()
    wanted = settings.INTERESTS_CHAT_MAX_ITEMS
    norm = float(np.linalg.norm(vector))
    if norm == 0 or wanted <= 0:
        return []
    rows = index_query(
        CONTENT_SQL.format(dims=int(embedder.dimensions)),
        {"vec": vector_literal(vector / norm), "model": embedder.name, "org": organization_id, "n": wanted * 4},
        ef_search=max(settings.REC_HNSW_EF_SEARCH, wanted * 4),
    )
    close = [(int(item), float(score)) for item, score in rows if score >= settings.INTERESTS_CHAT_MIN_SIMILARITY]
    active = set(
        ContentItem.objects.filter(
            organization_id=organization_id, id__in=[item for item, _ in close], active=True
        ).values_list("id", flat=True)
    )
    return [(item, score) for item, score in close if item in active][:wanted]


def question_evidence_learn(*, organization_id: int, message_id: int) -> int:
    """The task's body: one question -> chat evidence on its topics. Returns the evidence rows written."""
    from apps.conversations.models import Message
    from apps.organizations.models import Membership
    from apps.progress.models import ContentItem

    message = (
        Message.objects.filter(organization_id=organization_id, pk=message_id, role=Message.Role.USER)
        .select_related("conversation")
        .first()
    )
    user_id = message.conversation.user_id if message is not None else None
    if user_id is None or not Membership.objects.filter(organization_id=organization_id, user_id=user_id).exists():
        return 0
    matched = question_items_match(
        organization_id=organization_id, vector=_question_vector(message_id, message.content)
    )
    if not matched:
        return 0
    items = {
        row["id"]: row
        for row in ContentItem.objects.filter(organization_id=organization_id, id__in=[i for i, _ in matched]).values(
            "id", "title", "tags", "categories"
        )
    }
    evidence = []
    for item_id, similarity in matched:
        item = items[item_id]
        topics = (item["tags"] or [])[:2] or (item["categories"] or [])[:1] or [item["title"]]
        strength = settings.INTERESTS_CHAT_STRENGTH * similarity
        evidence.extend((user_id, TOPICS_CATEGORY, topic, strength, [item_id]) for topic in topics)
    return member_interest_evidence_add(organization_id=organization_id, source=InterestSource.CHAT, evidence=evidence)
