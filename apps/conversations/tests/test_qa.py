"""Q&A pairs and corrected answers (issue 14): services and the turn's Q&A shortcut.

Coverage:
- a pair is stored with its question's embedding and the model's name; blank or too long text is 400;
- the default QA_MATCH_MIN_SIMILARITY (0.8) on the shipped model: paraphrases match, near-misses do not;
- a turn whose question paraphrases a pair answers with the pair (JSON and streamed), status ok, one citation
  marked `kind: qa` with the document-citation keys, no retrieval; another question still gets retrieval;
- only the bot's own pairs match (not a sibling bot's, not another organization's);
- a pair embedded by another model is re-embedded on the next lookup (a model change never disables it);
- a correction makes a pair from the user's question before the answer; again on the same message updates
  it; an explicit question wins; a user message cannot be corrected; an update re-embeds a new question;
- deleting the bot removes its pairs and evaluation runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.exceptions import ValidationError

from apps.bots.tests.factories import BotFactory
from apps.conversations import qa, services
from apps.conversations.models import Message, QAPair
from apps.conversations.tests.utils import ingest
from apps.core.embeddings import get_embedder
from apps.core.exceptions import ApplicationError
from apps.documents.tests import samples
from apps.organizations.tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

REFUND_ANSWER = "Refunds reach your card within 14 days; write to billing@example.com if it takes longer."
# the keys of a document citation (grounding.check_citations), which the widget and API clients read
CITATION_KEYS = {"ref", "chunk_id", "document_id", "title", "url", "page", "heading_path", "snippet", "score",
                 "support"}  # fmt: skip


@pytest.fixture
def kb_bot(chat_org, offline):
    bot = BotFactory(organization=chat_org, name="Helpdesk", min_score=0.3)
    ingest(bot, "guide.md", samples.md())
    return bot


def add_pair(bot, question="How long do refunds take?", answer=REFUND_ANSWER) -> QAPair:
    return qa.qa_pair_create(organization=bot.organization, bot=bot, question=question, answer=answer)


def ask(bot, content: str):
    conversation = services.conversation_create(organization=bot.organization, bot=bot)
    turn = services.turn_prepare(conversation=conversation, content=content)
    return turn, services.turn_answer(turn)


def test_pair_is_stored_with_the_questions_embedding(kb_bot):
    """The question's vector (unit length, the model's dimensions) and the model's name are stored."""
    pair = add_pair(kb_bot)
    embedder = get_embedder()

    pair.refresh_from_db()
    assert pair.embedding_model == embedder.name
    assert len(pair.embedding) == embedder.dimensions
    assert np.linalg.norm(np.asarray(pair.embedding)) == pytest.approx(1.0, abs=1e-3)
    assert (pair.organization_id, pair.bot_id, pair.question, pair.answer) == (
        kb_bot.organization_id, kb_bot.pk, "How long do refunds take?", REFUND_ANSWER,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("question", "answer", "message"),
    [
        ("  ", "An answer", {"question": ["This field may not be blank."]}),
        ("A question?", "", {"answer": ["This field may not be blank."]}),
        ("x" * 2001, "An answer", {"question": ["Ensure this field has no more than 2000 characters."]}),
    ],
)
def test_blank_or_too_long_text_is_refused(kb_bot, question, answer, message):
    """Blank question or answer, or a question over 2000 characters: ValidationError, nothing stored."""
    with pytest.raises(ValidationError) as caught:
        add_pair(kb_bot, question=question, answer=answer)
    assert caught.value.detail == message
    assert not QAPair.objects.exists()


@pytest.mark.parametrize(
    ("asked", "matches"),
    [
        ("how long does a refund take", True),
        ("When will my refund arrive?", False),  # 0.75 on the shipped model: retrieval answers instead
        ("How long does installation take?", False),
        ("What is your refund policy for annual plans?", False),
    ],
)
def test_default_cut_off_matches_paraphrases_not_near_misses(kb_bot, asked, matches):
    """QA_MATCH_MIN_SIMILARITY 0.8 (docs/quality.md has the measurement): close paraphrases match, other
    questions on the same subject do not."""
    add_pair(kb_bot)

    found = qa.qa_match_find(bot=kb_bot, question=asked)

    assert (found is not None) is matches


def test_turn_answers_with_the_matching_pair(kb_bot):
    """A paraphrase gets the pair's answer, status ok, model "qa", one citation of kind qa; no retrieval."""
    pair = add_pair(kb_bot)

    turn, answer = ask(kb_bot, "how long does a refund take")

    assert turn.hits == [] and turn.qa_match.pair == pair
    assert (answer.content, answer.status, answer.model) == (REFUND_ANSWER, "ok", "qa")
    [citation] = answer.citations
    similarity = turn.qa_match.similarity
    assert citation == {
        "ref": 1, "kind": "qa", "qa_id": pair.pk, "chunk_id": None, "document_id": None, "title": "Helpdesk Q&A",
        "url": "", "page": None, "heading_path": [], "snippet": "How long do refunds take?", "score": similarity,
        "support": similarity,
    }  # fmt: skip
    assert set(citation) >= CITATION_KEYS
    assert similarity >= 0.8


def test_streamed_turn_answers_with_the_matching_pair(kb_bot):
    """The streamed turn sends the pair's answer as its text and the stored message in `done`."""
    pair = add_pair(kb_bot)
    conversation = services.conversation_create(organization=kb_bot.organization, bot=kb_bot)
    turn = services.turn_prepare(conversation=conversation, content="How long do refunds take?")

    events = list(services.turn_stream(turn))

    assert events[0] == ("token", {"text": REFUND_ANSWER})
    name, done = events[-1]
    message = Message.objects.get(pk=done["message_id"])
    assert name == "done" and done["content"] == message.content == REFUND_ANSWER
    assert done["status"] == "ok" and done["citations"][0]["qa_id"] == pair.pk
    assert message.citations == done["citations"]


def test_other_questions_still_get_retrieval(kb_bot):
    """A question no pair matches is answered from the documents, with document citations."""
    add_pair(kb_bot)

    turn, answer = ask(kb_bot, "How do I start the platform?")

    assert turn.qa_match is None and turn.hits
    assert answer.status == "ok" and answer.model != "qa"
    assert answer.citations and all("kind" not in c for c in answer.citations)


def test_only_the_bots_own_pairs_match(kb_bot):
    """A sibling bot's pair and another organization's pair with the same question never answer this bot."""
    sibling = BotFactory(organization=kb_bot.organization)
    add_pair(sibling, answer="the sibling's answer")
    stranger = BotFactory(organization=OrganizationFactory())
    add_pair(stranger, answer="the stranger's answer")

    turn, answer = ask(kb_bot, "How long do refunds take?")

    assert turn.qa_match is None
    assert answer.model != "qa" and "sibling" not in answer.content and "stranger" not in answer.content


def test_a_pair_of_another_model_is_re_embedded_on_lookup(kb_bot):
    """After a model change (a pair whose vector is from another model), the lookup re-embeds it and matches."""
    pair = add_pair(kb_bot)
    QAPair.objects.filter(pk=pair.pk).update(embedding=[0.0] * 8, embedding_model="local:old-model")

    found = qa.qa_match_find(bot=kb_bot, question="How long do refunds take?")

    pair.refresh_from_db()
    assert found is not None and found.pair == pair and found.similarity == pytest.approx(1.0, abs=1e-3)
    assert pair.embedding_model == get_embedder().name and len(pair.embedding) == get_embedder().dimensions


def test_correction_makes_a_pair_from_the_question_before_the_answer(kb_bot):
    """The corrected answer and the user's question before it form a pair linked to the message; correcting it
    again updates that pair; the next such question gets the correction."""
    conversation = services.conversation_create(organization=kb_bot.organization, bot=kb_bot)
    services.turn_answer(services.turn_prepare(conversation=conversation, content="Which port does it use?"))
    turn = services.turn_prepare(conversation=conversation, content="Can I get my money back?")
    bad = services.turn_answer(turn)

    pair, created = qa.message_correct(message=bad, answer="Yes, within 14 days.")
    again, created_again = qa.message_correct(message=bad, answer="Yes, within 14 days of the purchase.")

    assert created and not created_again and again.pk == pair.pk
    assert QAPair.objects.get().source_message == bad
    assert (again.question, again.answer) == ("Can I get my money back?", "Yes, within 14 days of the purchase.")
    _turn, answer = ask(kb_bot, "Can I get my money back?")
    assert answer.content == "Yes, within 14 days of the purchase." and answer.citations[0]["qa_id"] == pair.pk


def test_correction_with_an_explicit_question(kb_bot):
    """An admin may rephrase the question the pair matches."""
    _turn, bad = ask(kb_bot, "refund??")

    pair, _created = qa.message_correct(message=bad, answer="14 days.", question="How long do refunds take?")

    assert pair.question == "How long do refunds take?"


def test_a_user_message_cannot_be_corrected(kb_bot):
    """Only assistant messages take a correction."""
    turn, _answer = ask(kb_bot, "How long do refunds take?")

    with pytest.raises(ApplicationError) as caught:
        qa.message_correct(message=turn.question, answer="14 days.")
    assert caught.value.get_codes() == "not_an_answer"
    assert not QAPair.objects.exists()


def test_update_re_embeds_a_new_question(kb_bot):
    """Changing the question changes the vector; changing only the answer keeps it."""
    pair = add_pair(kb_bot)
    before = list(pair.embedding)

    pair, changed = qa.qa_pair_update(pair=pair, data={"answer": "New answer."})
    assert changed and list(pair.embedding) == before

    pair, changed = qa.qa_pair_update(pair=pair, data={"question": "How do I install Beacon?"})
    pair.refresh_from_db()
    assert changed and not np.allclose(np.asarray(pair.embedding), np.asarray(before))
    assert qa.qa_match_find(bot=kb_bot, question="How do I install Beacon?").pair == pair


def test_deleting_the_bot_removes_its_pairs_and_runs(kb_bot):
    """Pairs (a corrected one too) and evaluation runs go with their bot."""
    from apps.bots.tests.deletion import bot_delete_and_purge
    from apps.conversations.models import EvaluationRun

    _turn, bad = ask(kb_bot, "Can I get my money back?")
    qa.message_correct(message=bad, answer="Yes.")
    add_pair(kb_bot)
    EvaluationRun.objects.create(organization=kb_bot.organization, bot=kb_bot)

    bot_delete_and_purge(kb_bot)

    assert not QAPair.objects.exists() and not EvaluationRun.objects.exists()


def test_an_answer_without_a_question_before_it_needs_one(kb_bot):
    """No user message before the answer: 400 no_question, unless the admin gives the question."""
    conversation = services.conversation_create(organization=kb_bot.organization, bot=kb_bot)
    greeting = Message.objects.create(organization=kb_bot.organization, conversation=conversation,
                                      role="assistant", content="Hi! How can I help?")  # fmt: skip

    with pytest.raises(ApplicationError) as caught:
        qa.message_correct(message=greeting, answer="Hello.")
    assert caught.value.get_codes() == "no_question"
    pair, created = qa.message_correct(message=greeting, answer="Hello.", question="Hi?")
    assert created and pair.question == "Hi?"
