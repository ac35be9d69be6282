"""Evaluation runs (issue 14, the quality loop): how well a bot answers its own Q&A pairs.

A bot's evaluation set is its Q&A pairs (those written directly and the corrected answers). For each
pair (question, expected answer), with the Q&A shortcut left out (else every answer would be the
pair itself):

- retrieval: `chunk_search` over the bot's documents, top `k`, no cut-off (`min_score=0`, so the
  ranking is measured, not the refusal). A retrieved chunk is *relevant* when it supports the
  expected answer: the cosine similarity of the answer's and the chunk's embeddings is at least
  CITATION_MIN_SIMILARITY (the rule a citation must pass), or the chunk contains at least
  EVALUATION_TERM_OVERLAP of the answer's content terms (lower-cased words of 3+ letters outside a
  short stop list; a chunk in another language than English is read, with the answer, in its own
  text-search configuration's lexemes; answers with fewer than 3 such terms use the similarity rule only).
  Recall@1 / Recall@k: share of pairs with a relevant chunk at rank 1 / within k. MRR: mean of
  1/rank of the first relevant chunk (0 when none within k).
- refusal: the bot's own search (its top_k and cut-off) finds nothing, or a bot with strict grounding finds
  passages without every term of the question its documents hold, so the turn would give the fallback
  message. Refusal rate: share of pairs refused (lower is better on this set: every question has an answer).
- grounded answer: for each pair not refused, the answerer (the language model when one is
  configured, else the offline answerer) answers from the bot's hits, its citations are checked as
  in a turn, and the answer is grounded when one of its remaining citations is a relevant chunk.
  Grounded-answer rate: grounded / answered.

Runs are stored (`EvaluationRun`) with their parameters, the figures and per-pair results (first
EVALUATION_MAX_RESULTS pairs), so a change to documents or settings can be compared with the run before.
"""

from __future__ import annotations

import logging
import re

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from apps.conversations import chat, grounding
from apps.conversations.models import EvaluationRun, QAPair
from apps.core import languages
from apps.core.embeddings import get_embedder
from apps.core.exceptions import ApplicationError
from apps.documents.selectors import chunk_search, chunk_vectors
from workers.tasks.evaluation import evaluation_run_task

logger = logging.getLogger(__name__)

METRICS = ("recall_at_1", "recall_at_k", "mrr", "grounded_answer_rate", "refusal_rate")
WORD = re.compile(r"[a-z][a-z0-9_]{2,}")
_STOP_WORDS = (
    "the and for are but not you all any can had her was one our out has have how its may new now see way who "
    "did get him his she too use that with this from they will what when your which their there then than them "
    "into been more some such only also each other about would could should does done just over very"
)
STOP = frozenset(_STOP_WORDS.split())


def _terms(texts: list[str], config: str = "english") -> list[set[str]]:
    """The content terms of each text as text-search configuration `config` reads it. `english`: lower-cased
    words of 3+ letters outside STOP. Another: its lexemes of 3+ letters (the language's stemmer and stop list,
    `languages.lexemes`): read the English way, French answers shared "des", "pour", "dans" with every chunk, and
    an accented word was cut ("réponse" -> "ponse")."""
    if config == "english":
        return [{word for word in WORD.findall(text.lower()) if word not in STOP} for text in texts]
    return [{term for term in terms if len(term) > 2} for terms in languages.lexemes(texts, config)]


def evaluation_run_create(*, organization, bot, k: int | None = None, created_by=None) -> EvaluationRun:
    """A pending run of the bot's evaluation, executed by a worker after commit (400 without Q&A pairs)."""
    assert bot.organization_id == organization.pk
    if not QAPair.objects.filter(organization=organization, bot=bot).exists():
        raise ApplicationError(
            "This bot has no Q&A pairs to evaluate: add some, or correct answers, first.", code="no_evaluation_set"
        )
    run = EvaluationRun.objects.create(
        organization=organization,
        bot=bot,
        created_by=created_by,
        parameters=evaluation_parameters(bot, k),
    )
    evaluation_run_task.delay_on_commit(organization_id=organization.pk, run_id=run.pk)
    return run


def evaluation_parameters(bot, k: int | None) -> dict:
    return {
        "k": k or settings.EVALUATION_K,
        "top_k": bot.top_k,
        "min_score": bot.effective_min_score,
        "dense_weight": bot.dense_weight,
        "strict_grounding": bot.strict_grounding,
        "missing_terms_allowed": grounding.missing_terms_allowed(bot),
        "embedding_model": get_embedder().name,
        "support_min_similarity": settings.CITATION_MIN_SIMILARITY,
        "term_overlap": settings.EVALUATION_TERM_OVERLAP,
        "answerer": "llm" if chat.llm_enabled() else chat.OFFLINE_MODEL,
    }


def _relevant(answer_vector: np.ndarray, answer_terms: set[str], chunk_terms: set[str], vector) -> bool:
    """A chunk (its content terms, its embedding or None) supports the expected answer."""
    if vector is not None and float(answer_vector @ vector) >= settings.CITATION_MIN_SIMILARITY:
        return True
    if len(answer_terms) < 3:
        return False
    return len(answer_terms & chunk_terms) / len(answer_terms) >= settings.EVALUATION_TERM_OVERLAP


def _supports(answer: str, answer_vector, hits, vectors: dict, reply_config: str) -> dict[int, bool]:
    """{chunk id: the chunk supports the expected answer} for `hits`: the answer and each chunk read in the chunk's
    own text-search configuration (the reply language's for a hit that does not say), one query per one."""
    by_config: dict[str, dict[int, str]] = {}
    for hit in hits:
        by_config.setdefault(hit.search_config or reply_config, {})[hit.chunk_id] = hit.text
    supports = {}
    for config, texts in sorted(by_config.items()):
        terms, *chunk_terms = _terms([answer, *texts.values()], config)
        for chunk_id, found in zip(texts, chunk_terms, strict=True):
            supports[chunk_id] = _relevant(answer_vector, terms, found, vectors.get(chunk_id))
    return supports


def _answer(*, bot, question: str, hits, question_vector, vectors, language: str) -> tuple[list[dict] | None, str]:
    """The citations of what a turn would answer from `hits` (no history), checked as a turn checks
    them; None when the turn would refuse (nothing the answerer can support); ([], error) when the
    language model fails."""
    if not chat.llm_enabled():
        answer = grounding.offline_answer(
            question=question,
            hits=hits,
            question_vector=question_vector,
            chunk_vectors=vectors,
            language=language,
        )
        return (None, "") if answer is None else (answer.citations, "")
    try:
        messages = chat.build_messages(bot=bot, question=question, hits=hits, history=[])
        answer = chat.llm_answer(bot=bot, messages=messages)
    except chat.LLMError as exc:
        return [], str(exc)
    checked = grounding.check_citations(content=answer.content, hits=hits, chunk_vectors=vectors)
    return (checked.citations, "") if checked.supported else (None, "")


def evaluate_pair(*, bot, pair: QAPair, k: int, question_vector, answer_vector) -> dict:
    organization = bot.organization
    ranked = chunk_search(organization=organization, bot=bot, query=pair.question, k=k, min_score=0.0,
                          vector=question_vector)  # fmt: skip
    served = chunk_search(organization=organization, bot=bot, query=pair.question, vector=question_vector)
    if grounding.strict_refusal(bot=bot, question=pair.question, hits=served):
        served = []  # the turn refuses (strict grounding)
    vectors = chunk_vectors(chunk_ids={hit.chunk_id for hit in ranked} | {hit.chunk_id for hit in served})
    language = languages.reply_language(language=bot.language, question=pair.question)
    supports = _supports(pair.answer, answer_vector, [*ranked, *served], vectors, languages.search_config(language))
    relevant = [supports[hit.chunk_id] for hit in ranked]
    first = next((rank for rank, yes in enumerate(relevant, start=1) if yes), None)
    result = {
        "qa_id": pair.pk,
        "question": pair.question[:300],
        "first_relevant_rank": first,
        "retrieved": [hit.chunk_id for hit in ranked],
        "refused": not served,
        "grounded": None,
        "cited": [],
        "error": "",
    }
    if served:
        citations, error = _answer(
            bot=bot,
            question=pair.question,
            hits=served,
            question_vector=question_vector,
            vectors=vectors,
            language=language,
        )
        if citations is None:
            result["refused"] = True
        elif error:
            result.update(grounded=False, error=error[:300])
        else:
            supporting = {hit.chunk_id for hit in served if supports[hit.chunk_id]}
            result["cited"] = [c["chunk_id"] for c in citations]
            result["grounded"] = any(c["chunk_id"] in supporting for c in citations)
    return result


def evaluation_metrics(results: list[dict], k: int) -> dict:
    n = len(results)
    if not n:
        return {"pairs": 0, "k": k, **dict.fromkeys(METRICS)}
    ranks = [r["first_relevant_rank"] for r in results]
    answered = [r for r in results if not r["refused"]]
    return {
        "pairs": n,
        "k": k,
        "answered": len(answered),
        "recall_at_1": round(sum(rank == 1 for rank in ranks) / n, 4),
        "recall_at_k": round(sum(rank is not None for rank in ranks) / n, 4),
        "mrr": round(sum(1 / rank for rank in ranks if rank) / n, 4),
        "grounded_answer_rate": round(sum(bool(r["grounded"]) for r in answered) / len(answered), 4)
        if answered
        else None,
        "refusal_rate": round((n - len(answered)) / n, 4),
    }


def evaluation_run_execute(*, run: EvaluationRun) -> EvaluationRun:
    """Compute and store the run's figures. Idempotent: a rerun recomputes the same run from the
    bot's current pairs and documents and overwrites its figures."""
    bot = run.bot
    EvaluationRun.objects.filter(pk=run.pk).update(status=EvaluationRun.Status.RUNNING, error="")
    try:
        k = int(run.parameters.get("k") or settings.EVALUATION_K)
        pairs = list(
            QAPair.objects.filter(organization_id=run.organization_id, bot=bot).order_by("id")[
                : settings.EVALUATION_MAX_PAIRS
            ]
        )
        embedder = get_embedder()
        questions = embedder.encode([pair.question for pair in pairs])
        answers = embedder.encode([pair.answer for pair in pairs])
        results = [
            evaluate_pair(bot=bot, pair=pair, k=k, question_vector=q, answer_vector=a)
            for pair, q, a in zip(pairs, questions, answers, strict=True)
        ]
    except Exception as exc:
        logger.exception("evaluation run %s of bot %s failed", run.pk, bot.pk)
        run.status, run.error, run.finished_at = (
            EvaluationRun.Status.FAILED,
            f"{type(exc).__name__}: {exc}",
            timezone.now(),
        )
        run.save(update_fields=["status", "error", "finished_at", "updated_at"])
        raise
    run.metrics = evaluation_metrics(results, k)
    run.results = results[: settings.EVALUATION_MAX_RESULTS]
    run.status, run.finished_at = EvaluationRun.Status.DONE, timezone.now()
    with transaction.atomic():
        run.save(update_fields=["metrics", "results", "status", "finished_at", "updated_at"])
    return run


def evaluation_run_list(*, organization, bot):
    """The bot's runs, latest first, each with the metrics of the finished run before it."""
    previous = EvaluationRun.objects.filter(
        organization=organization,
        bot=bot,
        status=EvaluationRun.Status.DONE,
        created_at__lt=OuterRef("created_at"),
    ).order_by("-created_at", "-id")
    return (
        EvaluationRun.objects.filter(organization=organization, bot=bot)
        .select_related("created_by")
        .annotate(previous_metrics=Subquery(previous.values("metrics")[:1]))
        .defer("results")
        .order_by("-created_at", "-id")
    )


def evaluation_delta(metrics: dict, previous: dict | None) -> dict | None:
    """Each figure minus the previous finished run's (None without one, or for a run without figures)."""
    if not previous or not metrics:
        return None
    return {
        name: round(metrics[name] - previous[name], 4)
        for name in METRICS
        if isinstance(metrics.get(name), int | float) and isinstance(previous.get(name), int | float)
    }
