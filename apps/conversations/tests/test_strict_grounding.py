"""The term check (docs/refusal.md#the-term-check) and strict grounding (#strict-grounding): a question is refused
when more of its terms that the bot's documents hold somewhere are missing from the passages it reads than
GROUNDING_MISSING_TERMS_ALLOWED lets through (one by default; -1: no check); a bot with strict grounding lets none
through. Real PostgreSQL (the terms are its lexemes, the documents' frequencies its `LexemeStat` rows), the real
offline embedder and answerer."""

from __future__ import annotations

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations import evaluation, grounding, qa, services
from apps.conversations.models import EvaluationRun, Message
from apps.conversations.tests.utils import ingest
from apps.documents.models import Chunk
from apps.documents.selectors import chunk_search, chunk_terms_missing
from apps.organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

ZLIB = b"zlib\n\nThe zlib module compresses data with the deflate algorithm. Call zlib.compress to compress bytes.\n"
UPLOADS = b"Uploads\n\nThe upload form accepts files of up to 4 GB, and tells you when a file is larger.\n"
PAST_4_GB = "Can zlib compress more than 4 GB of data?"


@pytest.fixture
def two_documents(offline):
    """A bot (reading one passage: top_k 1) whose documents say how zlib compresses, and elsewhere that uploads
    stop at 4 GB."""
    bot = BotFactory(organization=OrganizationFactory(), min_score=0.05, top_k=1)
    ingest(bot, "zlib.txt", ZLIB)
    ingest(bot, "uploads.txt", UPLOADS)
    return bot


def _hit_of(bot, question, name):
    hits = chunk_search(organization=bot.organization, bot=bot, query=question, k=2, min_score=0.0)
    return [hit for hit in hits if hit.document_title.lower().startswith(name)]


def test_the_terms_the_documents_hold_and_the_passages_do_not(two_documents):
    bot = two_documents
    zlib_hit, uploads_hit = _hit_of(bot, PAST_4_GB, "zlib"), _hit_of(bot, PAST_4_GB, "uploads")
    assert len(zlib_hit) == 1 and len(uploads_hit) == 1

    # "more" and "of" are stop words; "zlib", "compress" and "data" are in the zlib passage.
    assert chunk_terms_missing(bot=bot, question=PAST_4_GB, hits=zlib_hit) == ["4", "gb"]
    assert chunk_terms_missing(bot=bot, question=PAST_4_GB, hits=zlib_hit + uploads_hit) == []
    # A term no document holds is left to the score ("petabytes"); so are the words that only ask: "tell" is a term
    # of the documents (the uploads page), missing from the zlib passage, but "Can you tell me" only asks.
    assert chunk_terms_missing(bot=bot, question="Does zlib tell the size?", hits=zlib_hit) == ["tell"]
    assert chunk_terms_missing(bot=bot, question="Can you tell me how zlib compresses petabytes?", hits=zlib_hit) == []
    assert chunk_terms_missing(bot=bot, question=PAST_4_GB, hits=[]) == []


def test_the_terms_are_the_bots_own(two_documents):
    """Another bot's documents do not make a term known: its own frequencies are read."""
    other = BotFactory(organization=two_documents.organization, min_score=0.05)
    ingest(other, "zlib.txt", ZLIB)
    hit = _hit_of(other, PAST_4_GB, "zlib")
    assert len(hit) == 1

    assert chunk_terms_missing(bot=other, question=PAST_4_GB, hits=hit) == []


def test_only_the_passages_in_the_questions_language_count(db):
    """An `auto` bot with French and English documents: a French question's terms are looked for in the French
    passages read; an English passage with the same letters ("Lyon") does not hold the French term."""
    from apps.documents.tests.test_languages import FRENCH, document

    delivery, refunds_text = FRENCH.split("Retours")[0], "Retours" + FRENCH.split("Retours")[1].split("La ferme")[0]
    bot = BotFactory(organization=OrganizationFactory(), language="auto")
    documents = [
        document(bot, "Livraison", delivery),
        document(bot, "Retours", refunds_text),
        document(bot, "Offices", "Offices\n\nOur office in Lyon is open from Monday to Friday. The support team "
                 "answers emails the next day.\n"),
    ]  # fmt: skip
    assert [d.search_config for d in documents] == ["french", "french", "english"]
    question = "Le remboursement arrive-t-il de Lyon ?"
    found = chunk_search(organization=bot.organization, bot=bot, query=question, k=10, min_score=0.0)
    refunds = [hit for hit in found if hit.document_id == documents[1].pk]
    office = [hit for hit in found if hit.document_id == documents[2].pk]
    assert len(refunds) == 1 and len(office) == 1 and "lyon" not in refunds[0].text.lower()

    # "lyon" is a French term of the documents (the delivery page), not in the refunds passage; the English
    # passage's "lyon" is not a French one.
    assert chunk_terms_missing(bot=bot, question=question, hits=refunds) == ["lyon"]
    assert chunk_terms_missing(bot=bot, question=question, hits=refunds + office) == ["lyon"]


ONE_MISSING = "Does zlib tell the size?"  # "tell" is a term of the documents (the uploads page), not of zlib's


def _turn(bot, question):
    return services.turn_answer(services.turn_prepare(conversation=_conversation(bot), content=question))


def test_two_missing_terms_are_refused_one_is_let_through_and_a_strict_bot_lets_none(two_documents, settings):
    bot = two_documents
    assert [hit.document_title.lower() for hit in chunk_search(organization=bot.organization, bot=bot,
                                                                 query=PAST_4_GB)] == ["zlib"]  # fmt: skip
    assert _turn(bot, ONE_MISSING).status == Message.Status.OK  # one missing term: let through by default
    refused = _turn(bot, PAST_4_GB)  # "4" and "gb": the zlib passage answers another question
    assert (refused.status, refused.content, refused.citations) == (
        Message.Status.UNANSWERED,
        bot.fallback_message,
        [],
    )
    assert refused.error == grounding.TERMS_NOTE + "4, gb"  # for owners: which terms were missing
    settings.GROUNDING_MISSING_TERMS_ALLOWED = -1
    assert _turn(bot, PAST_4_GB).status == Message.Status.OK  # no check: the cut-off alone decides

    bot.strict_grounding = True
    bot.save()
    strict = _turn(bot, ONE_MISSING)
    assert (strict.status, strict.error) == (Message.Status.UNANSWERED, grounding.STRICT_NOTE + "tell")
    assert _turn(bot, PAST_4_GB).error == grounding.STRICT_NOTE + "4, gb"
    # A question whose terms the passage holds is answered, from it.
    covered = _turn(bot, "How does zlib compress data?")
    assert covered.status == Message.Status.OK
    assert [c["chunk_id"] for c in covered.citations] == list(
        Chunk.objects.filter(document__bot=bot, document__title__iexact="zlib").values_list("id", flat=True)
    )


def test_the_passages_read_are_those_the_answer_is_written_from(two_documents, monkeypatch, settings):
    """The offline answerer reads the first OFFLINE_HITS hits, a language model all of them: a term only a later hit
    holds refuses offline and not with a model."""
    bot = two_documents
    bot.strict_grounding = True
    hits = _hit_of(bot, PAST_4_GB, "zlib") + _hit_of(bot, PAST_4_GB, "uploads")
    assert len(hits) == 2
    monkeypatch.setattr(grounding, "OFFLINE_HITS", 1)

    assert grounding.strict_refusal(bot=bot, question=PAST_4_GB, hits=hits) == grounding.STRICT_NOTE + "4, gb"
    monkeypatch.setattr(grounding, "llm_enabled", lambda: True)
    assert grounding.strict_refusal(bot=bot, question=PAST_4_GB, hits=hits) == ""
    bot.strict_grounding = False
    monkeypatch.setattr(grounding, "llm_enabled", lambda: False)
    assert grounding.strict_refusal(bot=bot, question=PAST_4_GB, hits=hits) == grounding.TERMS_NOTE + "4, gb"
    settings.GROUNDING_MISSING_TERMS_ALLOWED = -1
    assert grounding.strict_refusal(bot=bot, question=PAST_4_GB, hits=hits) == ""  # no check: never


def test_an_evaluation_counts_what_the_term_check_refuses(two_documents, settings):
    """The evaluation decides as a turn does (and notes the setting): the pair is answered with no check, refused
    by the default check and by strict grounding."""
    bot = two_documents
    qa.qa_pair_create(organization=bot.organization, bot=bot, question=PAST_4_GB, answer="zlib compresses any size.")

    def run():
        parameters = evaluation.evaluation_parameters(bot, None)
        created = EvaluationRun.objects.create(organization=bot.organization, bot=bot, parameters=parameters)
        return evaluation.evaluation_run_execute(run=created)

    settings.GROUNDING_MISSING_TERMS_ALLOWED = -1
    unchecked = run()
    settings.GROUNDING_MISSING_TERMS_ALLOWED = 1
    checked = run()
    bot.strict_grounding = True
    bot.save()
    strict = run()

    assert (unchecked.parameters["missing_terms_allowed"], unchecked.metrics["refusal_rate"]) == (None, 0.0)
    assert (checked.parameters["missing_terms_allowed"], checked.metrics["refusal_rate"]) == (1, 1.0)
    assert (strict.parameters["strict_grounding"], strict.parameters["missing_terms_allowed"]) == (True, 0)
    assert strict.metrics["refusal_rate"] == 1.0 and strict.results[0]["refused"] is True


def _conversation(bot):
    return services.conversation_create(organization=bot.organization, bot=bot)
