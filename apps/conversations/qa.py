"""Corrected answers and Q&A pairs (issue 14, the quality loop): writes, the match a turn prefers over
retrieval, and the citation that marks such an answer as the bot's own Q&A.

A pair's question is embedded with the configured embedding model when it is written (before the
short transaction that stores it; the embedder may be a remote API). A turn looks up the bot's
nearest pair by cosine similarity (an exact scan of the bot's pairs in PostgreSQL: no index, which
stays fast for thousands of pairs per bot, see docs/quality.md); at or above
QA_MATCH_MIN_SIMILARITY the pair's answer is the reply. Pairs embedded by another model (after a
model change) are re-embedded on the next lookup, so they never silently stop matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from pgvector.django import CosineDistance
from rest_framework.exceptions import NotFound, ValidationError

from apps.conversations.models import Message, QAPair
from apps.core.embeddings import get_embedder
from apps.core.exceptions import ApplicationError

QA_MODEL = "qa"  # Message.model of an answer given from a Q&A pair (no language model involved)
STALE_BATCH = 200  # pairs re-embedded per lookup after a model change


# --------------------------------------------------------------------------- reads


def qa_pair_list(*, organization, bot, filters: dict | None = None):
    queryset = QAPair.objects.filter(organization=organization, bot=bot).select_related("created_by")
    search = (filters or {}).get("search")
    if search:
        queryset = queryset.filter(Q(question__icontains=search) | Q(answer__icontains=search))
    return queryset.order_by("-created_at", "-id")


def qa_pair_get(*, organization, bot, pair_id: int) -> QAPair:
    pair = qa_pair_list(organization=organization, bot=bot).filter(pk=pair_id).first()
    if pair is None:
        raise NotFound("Q&A pair not found.")
    return pair


@dataclass
class QAMatch:
    pair: QAPair
    similarity: float


def qa_embeddings_refresh(*, bot, limit: int = STALE_BATCH) -> int:
    """Embed the bot's pairs whose vector is missing or from another model (at most `limit` per call)."""
    embedder = get_embedder()
    stale = list(
        QAPair.objects.filter(organization_id=bot.organization_id, bot=bot)
        .exclude(embedding_model=embedder.name)
        .only("pk", "question")[:limit]
    )
    if not stale:
        return 0
    vectors = embedder.encode([pair.question for pair in stale])
    for pair, vector in zip(stale, vectors, strict=True):
        pair.embedding, pair.embedding_model = vector.tolist(), embedder.name
    QAPair.objects.bulk_update(stale, ["embedding", "embedding_model"])
    return len(stale)


def qa_match_find(*, bot, question: str = "", vector=None, min_similarity: float | None = None) -> QAMatch | None:
    """The bot's pair whose question is nearest to `question` (cosine), if at or above the cut-off
    (QA_MATCH_MIN_SIMILARITY by default); `vector` is the question's embedding when the caller has it."""
    threshold = settings.QA_MATCH_MIN_SIMILARITY if min_similarity is None else min_similarity
    if not QAPair.objects.filter(organization_id=bot.organization_id, bot=bot).exists():
        return None
    qa_embeddings_refresh(bot=bot)
    embedder = get_embedder()
    vector = embedder.encode([question])[0] if vector is None else vector
    pair = (
        QAPair.objects.filter(organization_id=bot.organization_id, bot=bot, embedding_model=embedder.name)
        .annotate(distance=CosineDistance("embedding", np.asarray(vector, dtype=np.float32).tolist()))
        .order_by("distance", "id")
        .first()
    )
    if pair is None:
        return None
    similarity = round(1.0 - float(pair.distance), 4)
    return QAMatch(pair=pair, similarity=similarity) if similarity >= threshold else None


def qa_citation(*, bot, match: QAMatch) -> dict:
    """The citation of an answer given from a Q&A pair: the keys of a document citation (grounding.check_citations,
    which the widget and API clients render), with `kind` "qa" and the pair's id instead of a chunk."""
    return {
        "ref": 1,
        "kind": "qa",
        "qa_id": match.pair.pk,
        "chunk_id": None,
        "document_id": None,
        "title": f"{bot.name} Q&A",
        "url": "",
        "page": None,
        "heading_path": [],
        "snippet": match.pair.question[:240],
        "score": match.similarity,
        "support": match.similarity,
    }


# --------------------------------------------------------------------------- writes


def _embed(question: str) -> tuple[list[float], str]:
    embedder = get_embedder()
    return embedder.encode([question])[0].tolist(), embedder.name


def _clean(text: str, name: str, max_length: int) -> str:
    text = (text or "").strip()
    if not text:
        raise ValidationError({name: ["This field may not be blank."]})
    if len(text) > max_length:
        raise ValidationError({name: [f"Ensure this field has no more than {max_length} characters."]})
    return text


QUESTION_MAX, ANSWER_MAX = 2000, 20000


def qa_pair_create(*, organization, bot, question: str, answer: str, created_by=None, source_message=None) -> QAPair:
    assert bot.organization_id == organization.pk
    question, answer = _clean(question, "question", QUESTION_MAX), _clean(answer, "answer", ANSWER_MAX)
    vector, model = _embed(question)  # outside the transaction: the embedder may be a remote API
    with transaction.atomic():
        pair = QAPair(
            organization=organization,
            bot=bot,
            question=question,
            answer=answer,
            created_by=created_by,
            source_message=source_message,
            embedding=vector,
            embedding_model=model,
        )
        pair.full_clean(exclude=["embedding"])
        pair.save()
    return pair


def qa_pair_update(*, pair: QAPair, data: dict) -> tuple[QAPair, bool]:
    changed = []
    if "question" in data:
        question = _clean(data["question"], "question", QUESTION_MAX)
        if question != pair.question:
            pair.question = question
            pair.embedding, pair.embedding_model = _embed(question)
            changed += ["question", "embedding", "embedding_model"]
    if "answer" in data:
        answer = _clean(data["answer"], "answer", ANSWER_MAX)
        if answer != pair.answer:
            pair.answer = answer
            changed.append("answer")
    if changed:
        pair.save(update_fields=[*changed, "updated_at"])
    return pair, bool(changed)


def qa_pair_delete(*, pair: QAPair) -> None:
    pair.delete()


def message_correct(*, message: Message, answer: str, question: str = "", created_by=None) -> tuple[QAPair, bool]:
    """Attach a corrected answer to an assistant message: a Q&A pair from the user's question that
    preceded it (or `question`, when the admin rephrases it) and `answer`. Correcting the same message
    again updates its pair. Returns (pair, created)."""
    if message.role != Message.Role.ASSISTANT:
        raise ApplicationError("Only the assistant's answers can be corrected.", code="not_an_answer")
    if not question.strip():
        preceding = (
            Message.objects.filter(
                conversation_id=message.conversation_id, role=Message.Role.USER, created_at__lte=message.created_at
            )
            .exclude(pk__gt=message.pk)
            .order_by("-created_at", "-id")
            .first()
        )
        if preceding is None:
            raise ApplicationError("No question precedes this answer; give the question.", code="no_question")
        question = preceding.content
    existing = QAPair.objects.filter(organization_id=message.organization_id, source_message=message).first()
    if existing is not None:
        pair, _changed = qa_pair_update(pair=existing, data={"question": question, "answer": answer})
        return pair, False
    conversation = message.conversation
    pair = qa_pair_create(
        organization=conversation.organization,
        bot=conversation.bot,
        question=question,
        answer=answer,
        created_by=created_by,
        source_message=message,
    )
    return pair, True
