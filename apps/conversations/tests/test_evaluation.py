"""Evaluation runs (issue 14): a bot's Q&A pairs as its evaluation set.

Coverage:
- a run on the guide: the two in-domain pairs are found at rank 1 and answered with a supporting citation,
  the out-of-domain pair is refused: Recall@1, Recall@k, MRR, grounded-answer rate and refusal rate, the
  parameters and per-pair results stored; the Q&A shortcut is not used (else it would be trivially perfect);
- the relevance rule: embedding similarity, or the answer's content terms in the chunk;
- the metrics arithmetic on hand-made results, and the delta to the previous run;
- `manage.py evaluate_bot`: prints the figures, stores a run, shows the change since the previous run on the
  second run; unknown bot, no pairs and a bad --k are command errors;
- a failing run is marked failed with the error, and the error propagates.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from apps.bots.tests.factories import BotFactory
from apps.conversations import evaluation, qa
from apps.conversations.models import EvaluationRun
from apps.conversations.tests.utils import ingest
from apps.documents.selectors import SearchHit
from apps.documents.tests import samples

pytestmark = pytest.mark.django_db

PAIRS = [
    ("How long do refunds take?", "Refunds are processed within 14 days of a request to the support team."),
    ("How do I start the platform?", "Run make run to start the platform with PostgreSQL and Redis."),
    ("What is the capital of Mongolia?", "Ulaanbaatar is the capital of Mongolia."),
]


@pytest.fixture
def kb_bot(chat_org, offline):
    bot = BotFactory(organization=chat_org, min_score=0.3)
    ingest(bot, "guide.md", samples.md())
    for question, answer in PAIRS:
        qa.qa_pair_create(organization=chat_org, bot=bot, question=question, answer=answer)
    return bot


def run_for(bot, k=None) -> EvaluationRun:
    run = EvaluationRun.objects.create(
        organization=bot.organization, bot=bot, parameters=evaluation.evaluation_parameters(bot, k)
    )
    return evaluation.evaluation_run_execute(run=run)


def test_run_on_the_guide(kb_bot):
    """In-domain pairs: rank 1 and grounded; the out-of-domain pair: refused and never relevant."""
    run = run_for(kb_bot)

    run.refresh_from_db()
    assert run.status == "done" and run.finished_at is not None and run.error == ""
    assert run.metrics == {
        "pairs": 3, "k": 5, "answered": 2, "recall_at_1": 0.6667, "recall_at_k": 0.6667, "mrr": 0.6667,
        "grounded_answer_rate": 1.0, "refusal_rate": 0.3333,
    }  # fmt: skip
    assert run.parameters == {
        "k": 5, "top_k": kb_bot.top_k, "min_score": 0.3, "dense_weight": kb_bot.dense_weight,
        "strict_grounding": False, "missing_terms_allowed": 1, "embedding_model": "local:all-MiniLM-L6-v2",
        "support_min_similarity": 0.35,
        "term_overlap": 0.6, "answerer": "offline-extractive",
    }  # fmt: skip
    refund, start, mongolia = run.results
    assert [r["qa_id"] for r in run.results] == sorted(r["qa_id"] for r in run.results)
    assert (refund["first_relevant_rank"], refund["refused"], refund["grounded"]) == (1, False, True)
    assert refund["cited"] and set(refund["cited"]) <= set(refund["retrieved"])
    assert (start["first_relevant_rank"], start["grounded"]) == (1, True)
    assert (mongolia["first_relevant_rank"], mongolia["refused"], mongolia["grounded"], mongolia["cited"]) == (
        None, True, None, [],
    )  # fmt: skip


def hit(text: str, chunk_id: int = 1) -> SearchHit:
    return SearchHit(chunk_id=chunk_id, document_id=1, document_title="t", document_url="", heading_path=[], page=None,
                     position=0, text=text, snippet="", score=0.5, semantic=0.5, lexical=0.5)  # fmt: skip


def test_relevance_by_similarity_or_by_terms():
    """Similar enough vectors, or most of the answer's content terms in the chunk (3+ terms), make a chunk
    relevant; few shared terms and a dissimilar vector do not; a two-term answer needs the vector."""
    answer_vector = np.asarray([1.0, 0.0], dtype=np.float32)
    near, far = np.asarray([0.9, 0.436], dtype=np.float32), np.asarray([0.0, 1.0], dtype=np.float32)
    terms, shared, few = evaluation._terms([
        "Refunds are processed within 14 days by the support team.",
        "The support team processed refunds within days.",
        "Refunds: ask the team.",
    ])  # fmt: skip
    assert terms == {"refunds", "processed", "within", "days", "support", "team"}

    assert evaluation._relevant(answer_vector, terms, set(), near)
    assert evaluation._relevant(answer_vector, terms, shared, far)
    assert not evaluation._relevant(answer_vector, terms, few, far)
    assert evaluation._relevant(answer_vector, terms, terms, None)  # no embedding: the terms decide
    assert not evaluation._relevant(answer_vector, {"refunds", "days"}, {"refunds", "days"}, far)


def test_terms_of_another_language_are_its_own():
    """Read with `french`, a French answer's terms are French lexemes: its stop words ("pour", "des") are none,
    "réponse" is one word, and "remboursements" is "remboursement"; read as English, "des" and "pour" were terms
    every chunk shares and "réponse" was "ponse"."""
    answer, chunk = evaluation._terms(
        ["Les remboursements des commandes sont versés pour la réponse.", "Le remboursement suit la réponse."], "french"
    )
    assert not {"des", "pour", "sont"} & answer
    assert {"rembours", "répons"} <= answer & chunk
    assert {"des", "pour", "ponse"} <= evaluation._terms(["des commandes pour la réponse"], "english")[0]


def test_each_chunk_is_read_in_its_own_configuration():
    """A French answer against a French chunk and an English one (an automatic bot): each chunk and the answer
    are read in the chunk's configuration, so the French chunk matches on stems and the English one is read the
    English way (a hit without a configuration: the reply language's)."""
    far = np.asarray([0.0, 1.0], dtype=np.float32)
    answer_vector = np.asarray([1.0, 0.0], dtype=np.float32)
    french = replace(hit("Le remboursement suit la réponse du service client.", 1), search_config="french")
    english = replace(hit("Refunds follow the customer service reply.", 2), search_config="english")
    unknown = hit("Le remboursement suit la réponse du service client.", 3)
    answer = "Les remboursements suivent les réponses du service client."

    supports = evaluation._supports(answer, answer_vector, [french, english, unknown], {}, "french")
    assert supports == {1: True, 2: False, 3: True}
    assert evaluation._supports(answer, answer_vector, [unknown], {3: far}, "english") == {3: False}


def test_metrics_and_delta():
    """Recall@1, Recall@k, MRR over every pair; grounded over the answered ones; refusals over every pair."""
    results = [
        {"first_relevant_rank": 1, "refused": False, "grounded": True},
        {"first_relevant_rank": 2, "refused": False, "grounded": False},
        {"first_relevant_rank": None, "refused": True, "grounded": None},
        {"first_relevant_rank": 4, "refused": False, "grounded": True},
    ]

    metrics = evaluation.evaluation_metrics(results, k=5)

    assert metrics == {
        "pairs": 4, "k": 5, "answered": 3, "recall_at_1": 0.25, "recall_at_k": 0.75, "mrr": 0.4375,
        "grounded_answer_rate": 0.6667, "refusal_rate": 0.25,
    }  # fmt: skip
    previous = {**metrics, "mrr": 0.5, "refusal_rate": 0.5, "grounded_answer_rate": None}
    assert evaluation.evaluation_delta(metrics, previous) == {
        "recall_at_1": 0.0, "recall_at_k": 0.0, "mrr": -0.0625, "refusal_rate": -0.25,
    }  # fmt: skip
    assert evaluation.evaluation_delta(metrics, None) is None


def test_evaluate_bot_command_prints_and_stores_runs(kb_bot):
    """Two runs: both stored; the second prints the change since the first (none, same data)."""
    first, second = io.StringIO(), io.StringIO()

    call_command("evaluate_bot", str(kb_bot.pk), stdout=first)
    call_command("evaluate_bot", str(kb_bot.pk), "--k", "3", "--json", stdout=second)

    runs = list(EvaluationRun.objects.filter(bot=kb_bot).order_by("id"))
    assert [run.status for run in runs] == ["done", "done"]
    printed = first.getvalue().splitlines()
    assert printed[0] == f"Bot {kb_bot.pk} ({kb_bot.name}): 3 Q&A pairs, 2 answered, answerer offline-extractive, " \
        f"run {runs[0].pk}"  # fmt: skip
    assert [line.split()[0] for line in printed[1:]] == ["Recall@1", "Recall@5", "MRR@5", "grounded-answer", "refusal"]
    assert printed[1].split() == ["Recall@1", "0.667"]
    body = json.loads(second.getvalue())
    assert body["run_id"] == runs[1].pk and body["metrics"] == runs[1].metrics and body["parameters"]["k"] == 3
    assert body["delta"] == {"recall_at_1": 0.0, "recall_at_k": 0.0, "mrr": 0.0, "grounded_answer_rate": 0.0,
                             "refusal_rate": 0.0}  # fmt: skip


def test_evaluate_bot_command_errors(kb_bot):
    """Unknown bot, a bot without pairs, and --k out of range are command errors; nothing is stored."""
    empty = BotFactory(organization=kb_bot.organization)

    with pytest.raises(CommandError, match="Unknown bot 999999"):
        call_command("evaluate_bot", "999999")
    with pytest.raises(CommandError, match="has no Q&A pairs"):
        call_command("evaluate_bot", str(empty.pk))
    with pytest.raises(CommandError, match="--k must be from 1 to 50"):
        call_command("evaluate_bot", str(kb_bot.pk), "--k", "0")
    assert not EvaluationRun.objects.exists()


def test_a_failing_run_is_marked_failed(kb_bot):
    """An unexpected error (here a corrupt stored parameter) marks the run failed with the error's text, and
    propagates (the task logs it)."""
    run = EvaluationRun.objects.create(organization=kb_bot.organization, bot=kb_bot, parameters={"k": "five"})

    with pytest.raises(ValueError):
        evaluation.evaluation_run_execute(run=run)

    run.refresh_from_db()
    assert (run.status, run.metrics) == ("failed", {})
    assert run.error == "ValueError: invalid literal for int() with base 10: 'five'"
    assert run.finished_at is not None
