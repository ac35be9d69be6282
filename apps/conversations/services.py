"""Conversations: start, send a message (the answer path), feedback, delete, usage limits.

A turn: check the monthly message limit -> store the user's message (committed at once, so it is
never lost) -> retrieve -> nothing relevant: the bot's fallback message, status `unanswered`, no
model call -> else prompt -> language model (or the offline answerer) -> citations checked ->
store the assistant message with citations, model, tokens and latency. No model call runs inside
a database transaction.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.conversations import chat, events, gaps, qa
from apps.conversations.models import Conversation, Message
from apps.core.embeddings import get_embedder
from apps.core.exceptions import ApplicationError
from apps.documents.models import ChunkEmbedding
from apps.documents.selectors import chunk_search

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- usage


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage_check(*, organization) -> None:
    """429 (naming when it resets) once the plan's monthly messages are used up."""
    limit = organization.plan.max_monthly_messages
    if limit is None:
        return
    now = timezone.now()
    start = month_start(now)
    used = Message.objects.filter(organization=organization, role=Message.Role.USER, created_at__gte=start).count()
    if used < limit:
        return
    days = calendar.monthrange(now.year, now.month)[1]
    reset = start + timedelta(days=days)
    raise ApplicationError(
        f"This organization has used the {limit} messages of its {organization.plan.name} plan for this month; "
        f"the count resets on {reset:%Y-%m-%d} (UTC).",
        code="message_limit_exceeded",
        status_code=429,
        extra={
            "limit": limit,
            "used": used,
            "resets_at": reset.isoformat(),
            "retry_after": int((reset - now).total_seconds()),
        },
    )


# --------------------------------------------------------------------------- conversations


def conversation_create(*, organization, bot, user=None, visitor_id: str = "", channel: str = "api") -> Conversation:
    assert bot.organization_id == organization.pk
    return Conversation.objects.create(
        organization=organization, bot=bot, user=user, visitor_id=visitor_id, channel=channel
    )


def conversation_delete(*, conversation: Conversation) -> None:
    conversation.delete()


def message_feedback(*, message: Message, value: int, comment: str = "") -> Message:
    if message.role != Message.Role.ASSISTANT:
        raise ApplicationError("Feedback is given on the assistant's answers only.", code="not_an_answer")
    message.feedback = value
    message.feedback_comment = comment
    message.save(update_fields=["feedback", "feedback_comment"])
    if value == -1:
        gaps.gap_answer_remember(answer=message)  # a content gap (issue 14): its vector for the gaps view
    return message


# --------------------------------------------------------------------------- a turn


@dataclass
class Turn:
    conversation: Conversation
    question: Message
    hits: list
    messages: list[dict] | None  # the prompt; None when nothing relevant was found
    started: float
    qa_match: qa.QAMatch | None = None  # the bot's own Q&A answers this question (issue 14)


def turn_prepare(*, conversation: Conversation, content: str) -> Turn:
    """Everything before the model: limit check, the user's message stored, retrieval, prompt.

    This is the "time to first byte" part of a turn.
    """
    started = time.perf_counter()
    bot = conversation.bot
    usage_check(organization=conversation.organization)
    history = list(
        conversation.messages.exclude(status=Message.Status.ERROR)
        .order_by("-created_at", "-id")
        .values_list("role", "content")[:20]
    )[::-1]
    with transaction.atomic():
        question = Message.objects.create(
            organization_id=conversation.organization_id,
            conversation=conversation,
            role=Message.Role.USER,
            content=content,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=question.created_at, title=conversation.title or content[:200]
        )
        events.user_message_posted.send(
            sender="conversations",
            organization_id=conversation.organization_id,
            conversation_id=conversation.pk,
            message_id=question.pk,
            user_id=conversation.user_id,
        )
    vector = get_embedder().encode([content])[0]
    qa_match = qa.qa_match_find(bot=bot, question=content, vector=vector)
    if qa_match is not None:
        return Turn(
            conversation=conversation, question=question, hits=[], messages=None, started=started, qa_match=qa_match
        )
    hits = chunk_search(organization=conversation.organization, bot=bot, query=content, vector=vector)
    if not hits:
        gaps.question_vector_remember(content, vector)  # a content gap (issue 14): its vector for the gaps view
    messages = chat.build_messages(bot=bot, question=content, hits=hits, history=history) if hits else None
    return Turn(conversation=conversation, question=question, hits=hits, messages=messages, started=started)


def _chunk_vectors(hits) -> dict[int, np.ndarray]:
    model = get_embedder().name
    rows = ChunkEmbedding.objects.filter(chunk_id__in=[h.chunk_id for h in hits], model=model).values_list(
        "chunk_id", "embedding"
    )
    return {chunk_id: np.asarray(vector, dtype=np.float32) for chunk_id, vector in rows}


def _store_answer(turn: Turn, answer: chat.Answer, *, status: str, error: str = "") -> Message:
    content, citations = answer.content, []
    if status == Message.Status.OK and turn.hits:
        content, citations = chat.check_citations(
            content=answer.content, hits=turn.hits, chunk_vectors=_chunk_vectors(turn.hits)
        )
    message = Message.objects.create(
        organization_id=turn.conversation.organization_id,
        conversation=turn.conversation,
        role=Message.Role.ASSISTANT,
        content=content,
        status=status,
        citations=citations,
        model=answer.model,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        latency_ms=int((time.perf_counter() - turn.started) * 1000),
        error=error,
    )
    Conversation.objects.filter(pk=turn.conversation.pk).update(last_message_at=message.created_at)
    return message


def turn_answer(turn: Turn) -> Message:
    """The assistant's message for a prepared turn (one JSON response)."""
    if turn.qa_match is not None:
        return _store_qa_answer(turn)
    bot = turn.conversation.bot
    if turn.messages is None:
        return _store_answer(turn, chat.Answer(content=bot.fallback_message), status=Message.Status.UNANSWERED)
    if not chat.llm_enabled():
        return _store_answer(turn, chat.offline_answer(question=turn.question.content, hits=turn.hits), status="ok")
    try:
        answer = chat.llm_answer(bot=bot, messages=turn.messages)
    except chat.LLMError as exc:
        logger.warning("language model failed for conversation %s: %s", turn.conversation.pk, exc)
        return _store_answer(
            turn, chat.Answer(content=settings.LLM_ERROR_MESSAGE, model=bot.llm_model), status="error", error=str(exc)
        )
    return _store_answer(turn, answer, status=Message.Status.OK)


def turn_stream(turn: Turn) -> Iterator[tuple[str, dict]]:
    """Server-sent events of a prepared turn: ("token", {"text"}) ..., then ("done", {...})."""
    bot = turn.conversation.bot
    if turn.qa_match is not None:
        yield "token", {"text": turn.qa_match.pair.answer}
        message = _store_qa_answer(turn)
    elif turn.messages is None:
        yield "token", {"text": bot.fallback_message}
        message = _store_answer(turn, chat.Answer(content=bot.fallback_message), status=Message.Status.UNANSWERED)
    elif not chat.llm_enabled():
        answer = chat.offline_answer(question=turn.question.content, hits=turn.hits)
        for word in answer.content.split(" "):
            yield "token", {"text": word + " "}
        message = _store_answer(turn, answer, status=Message.Status.OK)
    else:
        answer = chat.Answer(content="", model=bot.llm_model)
        try:
            for delta in chat.llm_stream(bot=bot, messages=turn.messages, answer=answer):
                yield "token", {"text": delta}
            message = _store_answer(turn, answer, status=Message.Status.OK)
        except chat.LLMError as exc:
            logger.warning("language model failed for conversation %s: %s", turn.conversation.pk, exc)
            yield "token", {"text": ("\n\n" if answer.content else "") + settings.LLM_ERROR_MESSAGE}
            answer.content = (answer.content + "\n\n" if answer.content else "") + settings.LLM_ERROR_MESSAGE
            message = _store_answer(turn, answer, status=Message.Status.ERROR, error=str(exc))
    yield (
        "done",
        {
            "message_id": message.pk,
            "question_id": turn.question.pk,
            "status": message.status,
            "content": message.content,
            "citations": message.citations,
            "usage": {"prompt_tokens": message.prompt_tokens, "completion_tokens": message.completion_tokens},
            "model": message.model,
            "latency_ms": message.latency_ms,
        },
    )


# --------------------------------------------------------------------------- the Q&A shortcut (issue 14)


def _store_qa_answer(turn: Turn) -> Message:
    """The answer of a turn whose question matches one of the bot's Q&A pairs: the pair's answer, as it
    was written (no model, no citation check), cited as the bot's own Q&A."""
    bot = turn.conversation.bot
    message = Message.objects.create(
        organization_id=turn.conversation.organization_id,
        conversation=turn.conversation,
        role=Message.Role.ASSISTANT,
        content=turn.qa_match.pair.answer,
        status=Message.Status.OK,
        citations=[qa.qa_citation(bot=bot, match=turn.qa_match)],
        model=qa.QA_MODEL,
        latency_ms=int((time.perf_counter() - turn.started) * 1000),
    )
    Conversation.objects.filter(pk=turn.conversation.pk).update(last_message_at=message.created_at)
    return message


def widget_conversations_link_user(*, bot, visitor_id: str, user_id: int) -> int:
    """An identified widget visitor: their anonymous conversations join the member's history."""
    return Conversation.objects.filter(
        organization_id=bot.organization_id, bot=bot, visitor_id=visitor_id, user__isnull=True
    ).update(user_id=user_id)
