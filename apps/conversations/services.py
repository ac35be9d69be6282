"""Conversations: start, send a message (the answer path), feedback, delete, usage limits.

A turn: check the monthly message limit -> store the user's message (committed at once, so it is
never lost) -> retrieve -> nothing relevant: the bot's fallback message, status `unanswered`, no
model call -> else prompt -> language model (or the offline answerer) -> citations checked ->
store the assistant message with citations, model, tokens and latency. An answer with nothing
supported by the sources (the offline answerer finds no sentence to quote, or no claim of the
model's is supported) also becomes the fallback with status `unanswered` (docs/answers.md). No model
call runs inside a database transaction.
"""

from __future__ import annotations

import calendar
import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from apps.conversations import chat, events, gaps, grounding, qa
from apps.conversations.models import Conversation, Message, QAPair
from apps.core import languages
from apps.core.embeddings import get_embedder
from apps.core.exceptions import ApplicationError
from apps.core.locks import transaction_lock
from apps.core.streaming import database_connection_release
from apps.documents.selectors import chunk_search, chunk_vectors
from apps.organizations.events import plan_limit_reached_send

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------- usage


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage_take(*, organization) -> int | None:
    """In the transaction that stores a question: None when the plan leaves room for it, else the month's count.
    Turns of one organization with a monthly limit take turns here until their transaction ends (an advisory
    lock), so two questions at the same moment cannot both take the last message; turns without a limit do not
    wait. The caller refuses (_limit_exceeded) after its transaction, so the limit-reached event's writes last."""
    limit = organization.plan.max_monthly_messages
    if limit is None:
        return None
    transaction_lock(f"monthly_messages:{organization.pk}")
    start = month_start(timezone.now())
    used = Message.objects.filter(organization=organization, role=Message.Role.USER, created_at__gte=start).count()
    return used if used >= limit else None


def _limit_exceeded(organization, *, limit: int, used: int, now: datetime):
    start = month_start(now)
    days = calendar.monthrange(now.year, now.month)[1]
    reset = start + timedelta(days=days)
    plan_limit_reached_send(organization_id=organization.pk, limit="max_monthly_messages", allowed=limit, used=used)
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


def bot_conversations_delete(*, organization_id: int, bot_id: int, limit: int | None = None) -> int:
    """Delete the conversations of a bot with their messages: every one, in the caller's transaction, when the bot
    row is about to go (`bot_deleting`); with `limit`, at most that many in a transaction of their own, skipping
    those a turn holds locked (`bot_purging`, the background purge of a deleted bot). Returns the conversations
    deleted.

    Set-based, not the ORM's cascade: the cascade loads every conversation and message to delete them a batch of
    ids at a time (a bot of 50,000 conversations and 100,000 messages: 4.0 s and 1,517 queries in the request).
    A Q&A pair corrected from one of these messages loses the link (SET_NULL, as the cascade would); the bot's
    own pairs and evaluation runs go with the bot by the cascade."""
    params = {"bot": bot_id, "org": organization_id, "limit": limit}
    chosen = f"SELECT id FROM {Conversation._meta.db_table} WHERE bot_id = %(bot)s AND organization_id = %(org)s"
    # A batch skips conversations in use; the bot's last transaction fails at once on one (the purge comes back).
    chosen += " ORDER BY id " + ("LIMIT %(limit)s FOR UPDATE SKIP LOCKED" if limit is not None else "FOR UPDATE NOWAIT")
    return _conversations_delete(chosen, params)


def member_conversations_delete(*, organization_id: int, user_id: int) -> int:
    """Delete a person's conversations in an organization with their messages (their erasure: the
    `member_erasing` event), set-based, in the caller's transaction. Returns the conversations deleted."""
    chosen = (
        f"SELECT id FROM {Conversation._meta.db_table} WHERE organization_id = %(org)s AND user_id = %(user)s "
        "ORDER BY id FOR UPDATE"
    )
    return _conversations_delete(chosen, {"org": organization_id, "user": user_id})


def _conversations_delete(chosen: str, params: dict) -> int:
    """Delete the conversations the SELECT `chosen` returns (and locks), their messages, and the link of any Q&A pair
    corrected from one of them (SET_NULL, as the cascade would), in four statements."""
    conversations, messages, pairs = Conversation._meta.db_table, Message._meta.db_table, QAPair._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(chosen, params)
        ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            return 0
        linked = f"SELECT id FROM {messages} WHERE conversation_id = ANY(%(ids)s)"
        cursor.execute(
            f"UPDATE {pairs} SET source_message_id = NULL WHERE source_message_id IN ({linked})", {"ids": ids}
        )
        cursor.execute(f"DELETE FROM {messages} WHERE conversation_id = ANY(%(ids)s)", {"ids": ids})
        cursor.execute(f"DELETE FROM {conversations} WHERE id = ANY(%(ids)s)", {"ids": ids})
        return cursor.rowcount


def message_feedback(*, message: Message, value: int, comment: str = "") -> Message:
    if message.role != Message.Role.ASSISTANT:
        raise ApplicationError("Feedback is given on the assistant's answers only.", code="not_an_answer")
    message.feedback = value
    message.feedback_comment = comment
    message.save(update_fields=["feedback", "feedback_comment"])
    events.message_feedback_given_send(message=message, value=value, comment=comment)
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
    vector: np.ndarray  # the question embedded once per turn (Q&A match, retrieval, offline answerer, gaps)
    qa_match: qa.QAMatch | None = None  # one of the bot's own Q&A pairs answers this question
    # The language the bot answers in: its own, or the question's when it is `auto` (apps/core/languages.py).
    language: str = "en"
    # Why nothing relevant was found when passages were (strict grounding), for owners (`Message.error`).
    note: str = ""


def _question_store(conversation: Conversation, content: str) -> Message:
    """The person's message, the conversation's last activity and title, and the event (in the caller's transaction)."""
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
    return question


def turn_prepare(*, conversation: Conversation, content: str) -> Turn:
    """Everything before the model: limit check, the user's message stored, retrieval, prompt.

    This is the "time to first byte" part of a turn.
    """
    started = time.perf_counter()
    bot = conversation.bot
    history = list(
        conversation.messages.exclude(status=Message.Status.ERROR)
        .order_by("-created_at", "-id")
        .values_list("role", "content")[:20]
    )[::-1]
    with transaction.atomic():
        used_up = usage_take(organization=conversation.organization)
        question = _question_store(conversation, content) if used_up is None else None
    if question is None:  # refused after the transaction, so the limit-reached event's writes last
        organization = conversation.organization
        _limit_exceeded(organization, limit=organization.plan.max_monthly_messages, used=used_up, now=timezone.now())
    embedder = get_embedder()
    vector = embedder.encode([content])[0]
    language = languages.reply_language(language=bot.language, question=content)
    if conversation.user_id is not None:  # listeners do cheap work only (the learner enqueues a task)
        events.question_embedded.send(
            sender="conversations",
            organization_id=conversation.organization_id,
            conversation_id=conversation.pk,
            message_id=question.pk,
            user_id=conversation.user_id,
            vector=vector.tolist(),
            model=embedder.name,
        )
    qa_match = qa.qa_match_find(bot=bot, question=content, vector=vector)
    if qa_match is not None:
        return Turn(
            conversation, question, hits=[], messages=None, started=started, vector=vector, qa_match=qa_match,
            language=language,
        )  # fmt: skip
    hits = chunk_search(organization=conversation.organization, bot=bot, query=content, vector=vector)
    note = grounding.strict_refusal(bot=bot, question=content, hits=hits)
    if note:
        hits = []
    messages = chat.build_messages(bot=bot, question=content, hits=hits, history=history) if hits else None
    return Turn(
        conversation=conversation, question=question, hits=hits, messages=messages, started=started, vector=vector,
        language=language, note=note,
    )  # fmt: skip


def _fallback_text(turn: Turn) -> str:
    """The bot's fallback message: the owner's own as written; Beacon's default in the turn's language."""
    text = turn.conversation.bot.fallback_message
    return languages.message(turn.language, "fallback") if languages.is_default_message(text, "fallback") else text


def _llm_error_text(turn: Turn) -> str:
    """LLM_ERROR_MESSAGE: the operator's own as set; the default in the turn's language."""
    text = settings.LLM_ERROR_MESSAGE
    return languages.message(turn.language, "llm_error") if languages.is_default_message(text, "llm_error") else text


def _store_answer(turn: Turn, answer: chat.Answer, *, status: str, error: str = "") -> Message:
    """Persist the assistant's message as given (content and citations already checked)."""
    message = Message.objects.create(
        organization_id=turn.conversation.organization_id,
        conversation=turn.conversation,
        role=Message.Role.ASSISTANT,
        content=answer.content,
        status=status,
        citations=answer.citations,
        model=answer.model,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        latency_ms=int((time.perf_counter() - turn.started) * 1000),
        error=error,
    )
    Conversation.objects.filter(pk=turn.conversation.pk).update(last_message_at=message.created_at)
    return message


def _refuse(turn: Turn, *, model: str = "", usage: chat.Answer | None = None, note: str = "") -> Message:
    """The bot's fallback message, status `unanswered`; `note` (kept in `error`, shown to owners in the
    admin, never to the person asking) says why when an answer was written and then withheld, or when passages
    were found and strict grounding set them aside."""
    gaps.question_vector_remember(turn.question.content, turn.vector)  # a content gap, for the gaps view
    fallback = chat.Answer(content=_fallback_text(turn), model=model)
    if usage is not None:  # the tokens were spent all the same
        fallback.prompt_tokens, fallback.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    return _store_answer(turn, fallback, status=Message.Status.UNANSWERED, error=note)


def _offline(turn: Turn) -> chat.Answer | None:
    return grounding.offline_answer(
        question=turn.question.content,
        hits=turn.hits,
        question_vector=turn.vector,
        chunk_vectors=chunk_vectors(chunk_ids=[hit.chunk_id for hit in turn.hits]),
        language=turn.language,
    )


def _store_model_answer(turn: Turn, answer: chat.Answer) -> Message:
    """A model's answer, grounded: unsupported markers dropped; no supported claim at all -> the
    fallback (status `unanswered`) with the model's text kept for owners in `error`."""
    vectors = chunk_vectors(chunk_ids=[hit.chunk_id for hit in turn.hits])
    checked = grounding.check_citations(content=answer.content, hits=turn.hits, chunk_vectors=vectors)
    if not checked.supported:
        logger.info("model answer withheld for conversation %s: no supported sentence", turn.conversation.pk)
        return _refuse(turn, model=answer.model, usage=answer, note=UNSUPPORTED_NOTE + answer.content)
    answer.content, answer.citations = checked.content, checked.citations
    return _store_answer(turn, answer, status=Message.Status.OK)


UNSUPPORTED_NOTE = "Withheld: no sentence of the model's answer is supported by the sources. The model wrote:\n"
NO_QUOTE_NOTE = "No sentence of the retrieved passages answers the question well enough (ANSWER_MIN_SUPPORT)."


def _words(text: str) -> Iterator[str]:
    """Stream pieces of `text` whose concatenation is exactly `text` (code indentation included)."""
    yield from re.findall(r"\s*\S+", text)
    tail = re.search(r"\s+$", text)
    if tail:
        yield tail.group(0)


def _token(text: str) -> tuple[str, dict]:
    return "token", {"text": text}


def _turn_reply(turn: Turn, *, stream: bool) -> Generator[tuple[str, dict], None, Message]:
    """The one decision path of a prepared turn, shared by the JSON and the streamed answer: yields
    ("token", {"text"}) as the answer is delivered and returns the stored assistant message.

    Q&A match -> the pair's answer; nothing relevant -> the fallback; no language model -> the offline
    answerer (quoting nothing -> the fallback); else the model, whose answer is checked once complete
    (a model error -> the polite error, status error). `stream` only changes how the model's output
    arrives: as it is written (`chat.llm_stream`) or in one piece (`chat.llm_answer`). Offline, the
    answer is checked before the first piece is yielded.

    A person who leaves mid-answer (the stream is closed: GeneratorExit at a yield) does not lose the answer: nothing
    more is sent, but it is written to its end, checked and stored with its token usage, so it is there when they
    come back (the widget restores the conversation) and the month's usage counts it. (Closing a generator raises
    GeneratorExit where it waits, so it is caught here, at the one yield, not in a helper: `yield from` re-raises it.)
    """
    pieces, finish = _reply(turn, stream=stream)
    listening = True
    for text in pieces:
        if listening:
            try:
                yield _token(text)
            except GeneratorExit:
                listening = False
    if listening:
        return finish()
    # Here inside close(): an exception would be swallowed by the web server's response.close(), so it is logged.
    try:
        message = finish()
    except Exception:
        logger.exception("conversation %s: the person left mid-answer; storing the answer failed", turn.conversation.pk)
        return None
    logger.info("conversation %s: the person left mid-answer; the answer was stored", turn.conversation.pk)
    return message


def _reply(turn: Turn, *, stream: bool) -> tuple[Iterable[str], Callable[[], Message]]:
    """What a turn sends (pieces of text, produced as they are iterated) and how it is then stored (`finish`)."""
    bot = turn.conversation.bot
    if turn.qa_match is not None:
        return [turn.qa_match.pair.answer], lambda: _store_qa_answer(turn)
    if turn.messages is None:
        return [_fallback_text(turn)], lambda: _refuse(turn, note=turn.note)
    if not chat.llm_enabled():
        offline = _offline(turn)
        if offline is None:
            return [_fallback_text(turn)], lambda: _refuse(turn, model=chat.OFFLINE_MODEL, note=NO_QUOTE_NOTE)
        return _words(offline.content), lambda: _store_answer(turn, offline, status=Message.Status.OK)
    state = {"answer": chat.Answer(content="", model=bot.llm_model), "error": None}

    def written() -> Iterator[str]:
        answer = state["answer"]
        if stream:
            database_connection_release()  # not held while the model writes (seconds)
        try:
            if stream:
                yield from chat.llm_stream(bot=bot, messages=turn.messages, answer=answer)
            else:
                state["answer"] = chat.llm_answer(bot=bot, messages=turn.messages)
        except chat.LLMError as exc:
            logger.warning("language model failed for conversation %s: %s", turn.conversation.pk, exc)
            # What was written before the failure stays, followed by the polite error.
            error_text = ("\n\n" if answer.content else "") + _llm_error_text(turn)
            answer.content += error_text
            state["error"] = exc
            yield error_text

    def finish() -> Message:
        if state["error"] is not None:
            return _store_answer(turn, state["answer"], status=Message.Status.ERROR, error=str(state["error"]))
        return _store_model_answer(turn, state["answer"])

    return written(), finish


def turn_answer(turn: Turn) -> Message:
    """The assistant's message for a prepared turn (one JSON response)."""
    reply = _turn_reply(turn, stream=False)
    while True:
        try:
            next(reply)  # one JSON response: only the stored message matters
        except StopIteration as finished:
            return finished.value


def turn_stream(turn: Turn) -> TurnEvents:
    """Server-sent events of a prepared turn: ("token", {"text"}) ..., then ("done", {...}).

    The `done` event carries the finished message, and its `content` replaces the streamed text:
    with a model, tokens go out as they are written and are checked only once complete, so `done`
    may differ (unsupported markers removed, or the bot's fallback with status `unanswered` when
    nothing was supported). Offline, the answer is checked before the first token.

    Closing the events (the person left) never loses the answer, whenever it happens (`TurnEvents`).
    """
    return TurnEvents(turn)


class TurnEvents:
    """A turn's events, whose `close()` finishes the turn wherever the reader left: mid-answer, the answer is
    written to its end and stored (`_turn_reply`); before the first event was asked for (the client left while the
    question was being prepared: the web server closes the response unread), the whole answer is made and stored
    without sending anything. A generator closed before its first step runs none of its body, which lost those
    questions' answers."""

    def __init__(self, turn: Turn):
        self.turn = turn
        self._events = _turn_events(turn)
        self._started = False

    def __iter__(self) -> TurnEvents:
        return self

    def __next__(self) -> tuple[str, dict]:
        self._started = True
        return next(self._events)

    def close(self) -> None:
        if self._started:
            self._events.close()
            return
        self._started = True
        # Inside the web server's close(), which swallows exceptions: a failure is logged.
        try:
            for _ in self._events:
                pass
        except Exception:
            logger.exception("conversation %s: the person left before the answer; it failed", self.conversation_id)
            return
        logger.info("conversation %s: the person left before the answer; it was stored", self.conversation_id)

    @property
    def conversation_id(self) -> int:
        return self.turn.conversation.pk


def _turn_events(turn: Turn) -> Iterator[tuple[str, dict]]:
    message = yield from _turn_reply(turn, stream=True)
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
    match = turn.qa_match
    answer = chat.Answer(
        content=match.pair.answer, citations=[qa.qa_citation(bot=turn.conversation.bot, match=match)], model=qa.QA_MODEL
    )
    return _store_answer(turn, answer, status=Message.Status.OK)


def widget_conversations_link_user(*, bot, visitor_id: str, user_id: int) -> int:
    """An identified widget visitor: their anonymous conversations join the member's history."""
    return Conversation.objects.filter(
        organization_id=bot.organization_id, bot=bot, visitor_id=visitor_id, user__isnull=True
    ).update(user_id=user_id)
