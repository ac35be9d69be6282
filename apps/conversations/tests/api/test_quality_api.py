"""The quality loop's API (issue 14): Q&A pairs, corrections, content gaps, evaluation runs.

Coverage:
- Q&A CRUD: admin creates (201, whole body, stored with its embedding), lists (search filter), retrieves,
  patches, deletes; members read but cannot write (403); API keys: read scope reads, write scope writes;
  bad input 400 with a message; unknown id 404; another organization's bot, and another bot's pair, 404;
- a question that paraphrases a pair is answered with it through the chat API (JSON and SSE);
- correction: admin 201 (the question before the answer), again 200 (updated); members 403; a user message
  400 not_an_answer; blank answer 400; another organization's or another conversation's message 404;
- content gaps: admins get the topics (whole body); members 403; bad `days`/`limit` 400; other org 404;
- evaluation: list latest first with the delta to the previous finished run (query count independent of the
  number of runs); detail with per-pair results; POST 202 and the task registered on commit; no pairs 400
  no_evaluation_set; bad k 400; members 403; other organization 404; unknown run 404.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.bots.tests.factories import BotFactory
from apps.conversations import qa
from apps.conversations.models import Conversation, EvaluationRun, Message, QAPair
from apps.conversations.tests.api.test_conversations_api import api_key_client, sse_events
from apps.conversations.tests.utils import ingest
from apps.documents.tests import samples
from apps.organizations.tests.factories import MembershipFactory
from apps.organizations.tests.utils import error, iso
from conftest import client_for

pytestmark = pytest.mark.django_db

ANSWER = "Refunds reach your card within 14 days."


def url(bot, suffix: str = "", organization=None) -> str:
    return f"/api/v1/orgs/{(organization or bot.organization).slug}/bots/{bot.pk}/{suffix}"


def pair_body(pair: QAPair) -> dict:
    pair.refresh_from_db()
    return {
        "id": pair.pk,
        "question": pair.question,
        "answer": pair.answer,
        "source_message_id": pair.source_message_id,
        "source_conversation_id": pair.source_message.conversation_id if pair.source_message else None,
        "created_by": pair.created_by.email if pair.created_by else None,
        "created_at": iso(pair.created_at),
        "updated_at": iso(pair.updated_at),
    }


@pytest.fixture
def bot(organization):
    return BotFactory(organization=organization, min_score=0.3)


@pytest.fixture
def pair(bot):
    question = "How long do refunds take?"
    return qa.qa_pair_create(organization=bot.organization, bot=bot, question=question, answer=ANSWER)


def exchange(bot, question: str, *, user=None, status="unanswered", feedback=None):
    conversation = Conversation.objects.create(organization=bot.organization, bot=bot, user=user)
    asked = Message.objects.create(organization=bot.organization, conversation=conversation, role="user",
                                   content=question)  # fmt: skip
    answer = Message.objects.create(organization=bot.organization, conversation=conversation, role="assistant",
                                    content="Sorry.", status=status, feedback=feedback)  # fmt: skip
    return conversation, asked, answer


# --------------------------------------------------------------------------- Q&A pairs


def test_admin_creates_a_pair(admin_user, bot):
    """201 with the whole body; the pair is stored with the creator and the question's embedding."""
    response = client_for(admin_user).post(
        url(bot, "qa/"), {"question": " How long do refunds take? ", "answer": ANSWER}, format="json"
    )

    assert response.status_code == 201, response.content
    pair = QAPair.objects.get()
    assert response.json() == pair_body(pair)
    assert (pair.question, pair.created_by, pair.bot, pair.organization) == (
        "How long do refunds take?", admin_user, bot, bot.organization,
    )  # fmt: skip
    assert pair.embedding_model == "local:all-MiniLM-L6-v2" and pair.embedding is not None


def test_list_retrieve_update_delete(admin_user, bot, pair):
    """List (and its search filter), detail, PATCH (only the answer), DELETE."""
    other = qa.qa_pair_create(organization=bot.organization, bot=bot, question="How do I install?", answer="make run")
    client = client_for(admin_user)

    listed = client.get(url(bot, "qa/")).json()
    assert listed == {"count": 2, "next": None, "previous": None, "results": [pair_body(other), pair_body(pair)]}
    assert [row["id"] for row in client.get(url(bot, "qa/?search=REFUND")).json()["results"]] == [pair.pk]
    assert client.get(url(bot, f"qa/{pair.pk}/")).json() == pair_body(pair)

    patched = client.patch(url(bot, f"qa/{pair.pk}/"), {"answer": "Within two weeks."}, format="json")
    assert patched.status_code == 200 and patched.json() == pair_body(pair)
    assert (pair.question, pair.answer) == ("How long do refunds take?", "Within two weeks.")

    assert client.delete(url(bot, f"qa/{pair.pk}/")).status_code == 204
    assert list(QAPair.objects.values_list("pk", flat=True)) == [other.pk]


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"answer": ANSWER}, "question", "This field is required."),
        ({"question": "Q?", "answer": "   "}, "answer", "This field may not be blank."),
        ({"question": "x" * 2001, "answer": ANSWER}, "question", "Ensure this field has no more than 2000 characters."),
    ],
)
def test_bad_input_is_400(admin_user, bot, body, field, message):
    """Missing, blank or too long text: 400 naming the field; nothing stored."""
    response = client_for(admin_user).post(url(bot, "qa/"), body, format="json")

    assert response.status_code == 400
    assert response.json() == error("invalid", f"Invalid input. {field}: {message}", {field: [message]})
    assert not QAPair.objects.exists()


def test_patch_with_a_blank_question_is_400(admin_user, bot, pair):
    """PATCH validates as POST does."""
    response = client_for(admin_user).patch(url(bot, f"qa/{pair.pk}/"), {"question": ""}, format="json")

    assert response.status_code == 400 and response.json()["error"]["details"] == {
        "question": ["This field may not be blank."]
    }


def test_members_read_but_cannot_write(member, bot, pair):
    """Members list and read (200); create, update and delete are 403; nothing changes."""
    client = client_for(member)

    assert client.get(url(bot, "qa/")).json()["count"] == 1
    assert client.get(url(bot, f"qa/{pair.pk}/")).status_code == 200
    created = client.post(url(bot, "qa/"), {"question": "Q?", "answer": "A."}, format="json")
    patched = client.patch(url(bot, f"qa/{pair.pk}/"), {"answer": "changed"}, format="json")
    deleted = client.delete(url(bot, f"qa/{pair.pk}/"))

    assert created.status_code == patched.status_code == deleted.status_code == 403
    assert created.json() == error("permission_denied", "This action needs the admin role in this organization.")
    assert list(QAPair.objects.values_list("answer", flat=True)) == [ANSWER]


def test_api_keys_follow_their_scopes(organization, bot, pair):
    """A read-scope key lists but cannot create (403); a write-scope key creates (201, no creator)."""
    reader, writer = api_key_client(organization, ["read"]), api_key_client(organization, ["write"])

    assert reader.get(url(bot, "qa/")).json()["count"] == 1
    assert reader.post(url(bot, "qa/"), {"question": "Q?", "answer": "A."}, format="json").status_code == 403
    created = writer.post(url(bot, "qa/"), {"question": "Q?", "answer": "A."}, format="json")
    assert created.status_code == 201 and created.json()["created_by"] is None
    assert QAPair.objects.count() == 2


def test_other_organization_and_other_bot_are_404(admin_user, bot, pair, other_organization):
    """Another organization's bot and its pairs, and a sibling bot's pair under this bot: 404, never listed."""
    foreign_bot = BotFactory(organization=other_organization)
    foreign = qa.qa_pair_create(organization=other_organization, bot=foreign_bot, question="Q?", answer="A.")
    sibling_bot = BotFactory(organization=bot.organization)
    sibling = qa.qa_pair_create(organization=bot.organization, bot=sibling_bot, question="Q?", answer="A.")
    client = client_for(admin_user)

    assert client.get(url(foreign_bot, "qa/", bot.organization)).json() == error("not_found", "Bot not found.")
    assert client.get(url(foreign_bot, "qa/")).status_code == 404  # their slug: not a member
    for other in (foreign, sibling):
        assert client.get(url(bot, f"qa/{other.pk}/")).json() == error("not_found", "Q&A pair not found.")
        assert client.patch(url(bot, f"qa/{other.pk}/"), {"answer": "x"}, format="json").status_code == 404
        assert client.delete(url(bot, f"qa/{other.pk}/")).status_code == 404
    assert [row["id"] for row in client.get(url(bot, "qa/")).json()["results"]] == [pair.pk]
    assert QAPair.objects.count() == 3 and not QAPair.objects.filter(answer="x").exists()


@pytest.mark.parametrize("stream", [False, True])
def test_chat_answers_a_matching_question_with_the_pair(member, bot, pair, offline, stream):
    """Through the chat API (JSON and SSE): the pair's answer with one citation of kind qa."""
    ingest(bot, "guide.md", samples.md())
    conversation = Conversation.objects.create(organization=bot.organization, bot=bot, user=member)
    response = client_for(member).post(
        f"{url(bot, 'conversations/')}{conversation.pk}/messages/",
        {"content": "how long does a refund take", "stream": stream},
        format="json",
    )

    if stream:
        events = sse_events(response)
        answer = events[-1][1]
        assert events[0] == ("token", {"text": ANSWER})
    else:
        assert response.status_code == 201
        answer = response.json()["answer"]
    assert answer["content"] == ANSWER and answer["status"] == "ok"
    assert [(c["kind"], c["qa_id"], c["title"]) for c in answer["citations"]] == [("qa", pair.pk, f"{bot.name} Q&A")]


# --------------------------------------------------------------------------- corrections


def correction_url(conversation, message) -> str:
    return f"{url(conversation.bot, 'conversations/')}{conversation.pk}/messages/{message.pk}/correction/"


def test_admin_corrects_an_answer(admin_user, bot):
    """201 with the pair (question before the answer); correcting again is 200 and updates that pair."""
    conversation, _asked, answer = exchange(bot, "Can I get my money back?")
    client = client_for(admin_user)

    created = client.post(correction_url(conversation, answer), {"answer": "Yes, within 14 days."}, format="json")
    updated = client.post(correction_url(conversation, answer), {"answer": "Yes, in 14 days."}, format="json")

    pair = QAPair.objects.get()
    assert created.status_code == 201 and updated.status_code == 200
    assert updated.json() == pair_body(pair)
    assert (pair.question, pair.answer, pair.source_message, pair.created_by) == (
        "Can I get my money back?", "Yes, in 14 days.", answer, admin_user,
    )  # fmt: skip
    assert created.json()["source_conversation_id"] == conversation.pk


def test_correction_rules(admin_user, member, bot):
    """Members 403; a user message 400 not_an_answer; a blank answer 400; nothing stored."""
    conversation, asked, answer = exchange(bot, "Can I get my money back?", user=member)

    by_member = client_for(member).post(correction_url(conversation, answer), {"answer": "Yes."}, format="json")
    client = client_for(admin_user)
    on_question = client.post(correction_url(conversation, asked), {"answer": "Yes."}, format="json")
    blank = client.post(correction_url(conversation, answer), {"answer": ""}, format="json")

    assert by_member.status_code == 403
    assert on_question.json() == error("not_an_answer", "Only the assistant's answers can be corrected.")
    assert blank.status_code == 400 and blank.json()["error"]["details"] == {"answer": ["This field may not be blank."]}
    assert not QAPair.objects.exists()


def test_correction_of_another_organizations_or_conversations_message_is_404(admin_user, bot, other_organization):
    """A message of another organization's conversation, or of another conversation, under this URL: 404."""
    foreign_conversation, _q, foreign_answer = exchange(BotFactory(organization=other_organization), "Q?")
    conversation, _asked, _answer = exchange(bot, "Q?")
    _other, _q2, other_answer = exchange(bot, "Q2?")
    client = client_for(admin_user)

    assert client.post(correction_url(conversation, other_answer), {"answer": "A."}, format="json").json() == error(
        "not_found", "Message not found."
    )
    assert (
        client.post(
            f"{url(bot, 'conversations/')}{foreign_conversation.pk}/messages/{foreign_answer.pk}/correction/",
            {"answer": "A."},
            format="json",
        ).status_code
        == 404
    )
    assert not QAPair.objects.exists()


# --------------------------------------------------------------------------- content gaps


def test_content_gaps_for_admins(admin_user, member, bot):
    """The topics of the window, whole body; members 403."""
    _c1, asked, _a1 = exchange(bot, "How long do refunds take?")
    _c2, asked_again, _a2 = exchange(bot, "how long does a refund take", status="ok", feedback=-1)
    exchange(bot, "What is Beacon?", status="ok", feedback=1)

    response = client_for(admin_user).get(url(bot, "content-gaps/?days=7"))
    body = response.json()

    assert response.status_code == 200
    assert set(body) == {"days", "window_start", "window_end", "questions", "previous_questions", "truncated", "topics"}
    assert (body["days"], body["questions"], body["previous_questions"], body["truncated"]) == (7, 2, 0, False)
    [topic] = body["topics"]
    assert {key: topic[key] for key in topic if key not in ("label", "examples")} == {
        "count": 2, "unanswered": 1, "thumbs_down": 1, "previous_count": 0, "trend": "new",
    }  # fmt: skip
    assert topic["label"] in ("How long do refunds take?", "how long does a refund take")
    assert [(e["question"], e["message_id"], e["reason"]) for e in topic["examples"]] == [
        ("how long does a refund take", asked_again.pk, "thumbs_down"),
        ("How long do refunds take?", asked.pk, "unanswered"),
    ]
    assert client_for(member).get(url(bot, "content-gaps/")).status_code == 403


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("days=0", "days", "Ensure this value is greater than or equal to 1."),
        ("days=abc", "days", "A valid integer is required."),
        ("days=400", "days", "Ensure this value is less than or equal to 365."),
        ("limit=0", "limit", "Ensure this value is greater than or equal to 1."),
    ],
)
def test_content_gaps_bad_parameters_are_400(admin_user, bot, query, field, message):
    """Out-of-range or non-numeric parameters: 400 naming the field."""
    response = client_for(admin_user).get(url(bot, f"content-gaps/?{query}"))

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {field: [message]}


def test_content_gaps_of_another_organization_are_404(admin_user, bot, other_organization):
    """Another organization's bot under our slug or theirs: 404."""
    foreign_bot = BotFactory(organization=other_organization)
    exchange(foreign_bot, "How long do refunds take?")
    client = client_for(admin_user)

    assert client.get(url(foreign_bot, "content-gaps/", bot.organization)).status_code == 404
    assert client.get(url(foreign_bot, "content-gaps/")).status_code == 404
    assert client.get(url(bot, "content-gaps/")).json()["topics"] == []


# --------------------------------------------------------------------------- evaluation


def make_run(bot, *, minutes_ago: int, status="done", **metrics) -> EvaluationRun:
    run = EvaluationRun.objects.create(
        organization=bot.organization, bot=bot, status=status, parameters={"k": 5}, metrics=metrics,
        results=[{"qa_id": 1}], finished_at=timezone.now() if status == "done" else None,
    )  # fmt: skip
    EvaluationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=minutes_ago))
    run.refresh_from_db()
    return run


def run_body(run: EvaluationRun, delta) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "parameters": run.parameters,
        "metrics": run.metrics,
        "delta": delta,
        "error": run.error,
        "created_by": None,
        "created_at": iso(run.created_at),
        "finished_at": iso(run.finished_at),
    }


def test_evaluation_list_latest_first_with_delta(admin_user, bot):
    """Latest first; each finished run's delta is against the finished run before it (a failed one skipped)."""
    first = make_run(bot, minutes_ago=30, mrr=0.5, recall_at_k=0.6, refusal_rate=0.2)
    failed = make_run(bot, minutes_ago=20, status="failed")
    latest = make_run(bot, minutes_ago=10, mrr=0.75, recall_at_k=0.6, refusal_rate=0.1)

    body = client_for(admin_user).get(url(bot, "evaluation/")).json()

    assert body == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [
            run_body(latest, {"recall_at_k": 0.0, "mrr": 0.25, "refusal_rate": -0.1}),
            run_body(failed, None),
            run_body(first, None),
        ],
    }


def test_evaluation_list_query_count_does_not_grow(admin_user, bot):
    """The previous run's metrics come in the same query: 2 runs or 6, the same number of queries."""
    client = client_for(admin_user)
    counts = []
    for total in (2, 6):
        while EvaluationRun.objects.count() < total:
            make_run(bot, minutes_ago=EvaluationRun.objects.count() + 1, mrr=0.5)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url(bot, "evaluation/")).json()["count"] == total
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_evaluation_detail_has_the_results(admin_user, bot):
    """The detail adds the per-pair results; an unknown or another bot's run is 404."""
    run = make_run(bot, minutes_ago=5, mrr=0.5)
    sibling_run = make_run(BotFactory(organization=bot.organization), minutes_ago=5)
    client = client_for(admin_user)

    assert client.get(url(bot, f"evaluation/{run.pk}/")).json() == {**run_body(run, None), "results": [{"qa_id": 1}]}
    assert client.get(url(bot, f"evaluation/{sibling_run.pk}/")).json() == error(
        "not_found", "Evaluation run not found."
    )


def test_post_starts_a_run_on_commit(admin_user, bot, pair, django_capture_on_commit_callbacks):
    """202 with the pending run; the task is registered on commit (run by a worker, see the worker test)."""
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(admin_user).post(url(bot, "evaluation/"), {"k": 3}, format="json")

    run = EvaluationRun.objects.get()
    assert response.status_code == 202
    assert response.json() == {**run_body(run, None), "created_by": admin_user.email}
    assert (run.status, run.parameters["k"], run.bot, run.created_by) == ("pending", 3, bot, admin_user)
    assert len(callbacks) == 1


def test_post_without_pairs_or_with_bad_k_is_400(admin_user, bot):
    """No Q&A pairs: 400 no_evaluation_set; k out of range: 400; nothing stored."""
    client = client_for(admin_user)

    empty = client.post(url(bot, "evaluation/"), {}, format="json")
    qa.qa_pair_create(organization=bot.organization, bot=bot, question="Q?", answer="A.")
    bad = client.post(url(bot, "evaluation/"), {"k": 0}, format="json")

    assert empty.json() == error(
        "no_evaluation_set", "This bot has no Q&A pairs to evaluate: add some, or correct answers, first."
    )
    assert bad.status_code == 400
    assert bad.json()["error"]["details"] == {"k": ["Ensure this value is greater than or equal to 1."]}
    assert not EvaluationRun.objects.exists()


def test_evaluation_access(member, bot, pair, other_organization):
    """Members 403 on list, detail and POST; another organization's admin 404."""
    run = make_run(bot, minutes_ago=5)
    stranger = MembershipFactory(organization=other_organization, role="admin").user
    client = client_for(member)

    assert client.get(url(bot, "evaluation/")).status_code == 403
    assert client.get(url(bot, f"evaluation/{run.pk}/")).status_code == 403
    assert client.post(url(bot, "evaluation/"), {}, format="json").status_code == 403
    outsider = client_for(stranger)
    assert outsider.get(url(bot, "evaluation/")).status_code == 404
    assert outsider.post(url(bot, "evaluation/"), {}, format="json").status_code == 404
    assert outsider.get(url(bot, "qa/")).status_code == 404
    assert outsider.get(url(bot, "content-gaps/")).status_code == 404
    conversation, _asked, answer = exchange(bot, "Q?")
    assert outsider.post(correction_url(conversation, answer), {"answer": "A."}, format="json").status_code == 404
    assert EvaluationRun.objects.count() == 1 and QAPair.objects.count() == 1
