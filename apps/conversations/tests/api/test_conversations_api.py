"""Chat API: /api/v1/orgs/{org}/bots/{bot}/conversations/ (list, start, detail, delete, messages, feedback, export).

Coverage:
- start a conversation (201, whole body, persisted; widget channel refused); send a message: JSON 201 with
  {question, answer} equal to the stored rows, title and last_message_at set; `Accept: text/event-stream`
  (and stream=true) streams token events then done; through the configured language model too;
- list: whole body, filters channel / user / date_from / date_to / negative_feedback / unanswered (true and
  false), bad filter 400, query count independent of the number of conversations;
- detail with messages in order; delete (204, messages gone); unknown conversation 404 everywhere;
- feedback +1 / -1 with comment (persisted); on a user message 400 not_an_answer; value 0 400; a message of
  another conversation 404;
- export: a date range as JSON and CSV (admins; members 403), one conversation as CSV/JSON, streamed a batch of
  rows at a time (one query whatever the number of messages); the CSV header is
  the documented field list; a cell starting with "=" is neutralised with a leading quote; empty cells stay empty;
- access: members see only their own conversations (another member's id 404 on every route), admins see all;
  API key with the read scope lists but cannot start or send (403), the write scope can; anonymous 401;
- tenancy: another organization's bot or conversation 404 (and absent from lists), a conversation of another
  bot of the same organization under this bot 404;
- input: malformed JSON 400, content over 4000 characters 400, blank content 400; monthly message limit 429
  envelope (JSON, and as an SSE error event);
- the model is called outside any database transaction, after the question is committed (JSON and SSE).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.conversations.tests.utils import LLM_MODEL, close_unread, completion, ingest, stream
from apps.documents.tests import samples
from apps.organizations.models import Plan, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.organizations.tests.utils import error, iso
from conftest import client_for

pytestmark = pytest.mark.django_db

REFUND_QUESTION = "How long do refunds take?"
EXPORT_FIELDS = [
    "conversation_id", "channel", "user", "visitor_id", "message_id", "role", "status", "content", "citations",
    "model", "prompt_tokens", "completion_tokens", "latency_ms", "feedback", "feedback_comment", "created_at",
]  # fmt: skip


def base_url(bot, organization=None) -> str:
    return f"/api/v1/orgs/{(organization or bot.organization).slug}/bots/{bot.pk}/conversations/"


def conversation_url(conversation, suffix: str = "") -> str:
    return f"{base_url(conversation.bot)}{conversation.pk}/{suffix}"


def api_key_client(organization, scopes):
    from rest_framework.test import APIClient

    _key, raw = api_key_for(organization, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def message_body(message: Message) -> dict:
    return {
        "id": message.pk,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "citations": message.citations,
        "model": message.model,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "latency_ms": message.latency_ms,
        "feedback": message.feedback,
        "feedback_comment": message.feedback_comment,
        "created_at": iso(message.created_at),
    }


def conversation_body(conversation: Conversation, *, messages: bool = False) -> dict:
    conversation.refresh_from_db()
    body = {
        "id": conversation.pk,
        "bot_id": conversation.bot_id,
        "channel": conversation.channel,
        "title": conversation.title,
        "user": conversation.user.email if conversation.user else None,
        "visitor_id": conversation.visitor_id,
        "created_at": iso(conversation.created_at),
        "last_message_at": iso(conversation.last_message_at),
    }
    if messages:
        body["messages"] = [message_body(m) for m in conversation.messages.all()]
    return body


def make_conversation(bot, *, user=None, channel="api", created=None, answers=(), visitor_id=""):
    """A conversation with a user message and an assistant message per (status, feedback) in `answers`."""
    conversation = Conversation.objects.create(
        organization=bot.organization, bot=bot, user=user, channel=channel, visitor_id=visitor_id, title="t"
    )
    for index, (state, feedback) in enumerate(answers):
        Message.objects.create(
            organization=bot.organization, conversation=conversation, role="user", content=f"question {index}"
        )
        Message.objects.create(
            organization=bot.organization,
            conversation=conversation,
            role="assistant",
            content=f"answer {index}",
            status=state,
            feedback=feedback,
        )
    if created is not None:
        Conversation.objects.filter(pk=conversation.pk).update(created_at=created)
        conversation.refresh_from_db()
    return conversation


def sse_events(response) -> list[tuple[str, dict]]:
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.strip().split("\n\n"):
        name, data = block.split("\n")
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


@pytest.fixture
def bot(organization):
    return BotFactory(organization=organization, min_score=0.3)


@pytest.fixture
def kb_bot(bot, offline):
    """The bot with the Markdown guide ingested; answers come from the offline answerer."""
    ingest(bot, "guide.md", samples.md())
    return bot


# --------------------------------------------------------------------------- start and send


def test_start_conversation(member, bot):
    """POST starts an API conversation owned by the caller (201, whole body)."""
    response = client_for(member).post(base_url(bot), {}, format="json")

    assert response.status_code == 201, response.content
    conversation = Conversation.objects.get()
    assert (conversation.user, conversation.bot, conversation.organization) == (member, bot, bot.organization)
    assert response.json() == conversation_body(conversation)
    assert response.json()["channel"] == "api" and response.json()["last_message_at"] is None


def test_start_conversation_on_the_widget_channel_is_refused(member, bot):
    """Widget conversations start in the widget, not here: 400 naming channel."""
    response = client_for(member).post(base_url(bot), {"channel": "widget"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["channel"]
    assert not Conversation.objects.exists()


def test_send_message_returns_the_question_and_the_answer(member, kb_bot):
    """POST messages: 201 {question, answer} equal to the stored rows; the question titles the conversation."""
    conversation = make_conversation(kb_bot, user=member)
    Conversation.objects.filter(pk=conversation.pk).update(title="")

    response = client_for(member).post(conversation_url(conversation, "messages/"), {"content": REFUND_QUESTION})

    assert response.status_code == 201, response.content
    question, answer = conversation.messages.order_by("id")
    assert response.json() == {"question": message_body(question), "answer": message_body(answer)}
    assert (question.role, question.content, answer.role, answer.status) == ("user", REFUND_QUESTION, "assistant", "ok")
    assert "14 days" in answer.content and answer.citations[0]["title"] == "Beacon Guide"
    conversation.refresh_from_db()
    assert (conversation.title, conversation.last_message_at) == (REFUND_QUESTION, answer.created_at)


@pytest.mark.parametrize("how", ["accept-header", "stream-field"])
def test_send_message_streams_server_sent_events(member, kb_bot, how):
    """`Accept: text/event-stream` (or stream=true) answers with token events, then done."""
    conversation = make_conversation(kb_bot, user=member)
    client = client_for(member)
    url = conversation_url(conversation, "messages/")
    if how == "accept-header":
        response = client.post(url, {"content": REFUND_QUESTION}, format="json", HTTP_ACCEPT="text/event-stream")
    else:
        response = client.post(url, {"content": REFUND_QUESTION, "stream": True}, format="json")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    events = sse_events(response)
    assert {name for name, _ in events[:-1]} == {"token"} and len(events) > 2
    name, done = events[-1]
    answer = Message.objects.get(pk=done["message_id"])
    assert name == "done" and answer.conversation == conversation
    assert (done["content"], done["status"], done["citations"]) == (answer.content, "ok", answer.citations)
    assert done["question_id"] == conversation.messages.get(role="user", content=REFUND_QUESTION).pk


def test_a_stream_closed_before_it_was_read_still_answers_the_question(member, kb_bot):
    """The client left before the stream's first part was asked for (while its question was prepared): the web
    server closes the response unread, and the question is answered and stored all the same (it stayed unanswered:
    closing a generator that never started runs none of it)."""
    conversation = make_conversation(kb_bot, user=member)
    url = conversation_url(conversation, "messages/")
    response = client_for(member).post(url, {"content": REFUND_QUESTION, "stream": True}, format="json")
    assert response.status_code == 200
    assert not conversation.messages.filter(role="assistant").exists()  # nothing is answered before it is read

    close_unread(response)

    question, answer = conversation.messages.order_by("id")
    assert (question.content, answer.role, answer.status) == (REFUND_QUESTION, "assistant", "ok")
    assert "14 days" in answer.content and answer.citations[0]["title"] == "Beacon Guide"


def test_streamed_events_are_what_the_schema_documents(member, kb_bot):
    """The schema's 200 text/event-stream body is one object per event (an `event` from its enum, a
    `data` string holding JSON): every streamed event fits it, a 201 is never documented as a stream,
    and an error after negotiation is documented as an event (schemathesis validates each event)."""
    from drf_spectacular.generators import SchemaGenerator

    path = "/api/v1/orgs/{org_slug}/bots/{bot_id}/conversations/{conversation_id}/messages/"
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][path]["post"]
    event_schema = operation["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert "text/event-stream" not in operation["responses"]["201"]["content"]
    assert operation["responses"]["429"]["content"]["text/event-stream"]["schema"]["required"] == ["event", "data"]
    conversation = make_conversation(kb_bot, user=member)

    response = client_for(member).post(
        conversation_url(conversation, "messages/"), {"content": REFUND_QUESTION, "stream": True}, format="json"
    )

    raw_events = b"".join(response.streaming_content).decode().strip().split("\n\n")
    names = []
    for raw in raw_events:
        fields = dict(line.split(": ", 1) for line in raw.split("\n"))
        assert set(event_schema["required"]) <= set(fields) <= set(event_schema["properties"])
        assert fields["event"] in event_schema["properties"]["event"]["enum"]
        json.loads(fields["data"])
        names.append(fields["event"])
    assert names[0] == "token" and names[-1] == "done"


def test_send_message_through_the_language_model(member, kb_bot, llm):
    """With a model configured, the JSON answer is the model's, citation-checked."""
    fake = llm(completion("Refunds are processed within 14 days [1]. Bananas are yellow [1]."))
    conversation = make_conversation(kb_bot, user=member)

    response = client_for(member).post(conversation_url(conversation, "messages/"), {"content": REFUND_QUESTION})

    assert response.status_code == 201, response.content
    answer = response.json()["answer"]
    assert answer["content"] == "Refunds are processed within 14 days [1]. Bananas are yellow."
    assert (answer["model"], answer["status"], answer["prompt_tokens"]) == (LLM_MODEL, "ok", 120)
    assert fake.calls == 1


# --------------------------------------------------------------------------- list and filters


@pytest.fixture
def history(bot, member, admin_user):
    """Three conversations: January (member, negative feedback), February (widget, unanswered), today (admin)."""
    return {
        "january": make_conversation(
            bot, user=member, created=datetime(2024, 1, 10, 12, tzinfo=UTC), answers=[("ok", 1), ("ok", -1)]
        ),
        "february": make_conversation(
            bot,
            channel="widget",
            visitor_id="visitor-1",
            created=datetime(2024, 2, 10, 12, tzinfo=UTC),
            answers=[("unanswered", None)],
        ),
        "today": make_conversation(bot, user=admin_user, answers=[("ok", 1)]),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["today", "february", "january"]),
        ("channel=widget", ["february"]),
        ("channel=api", ["today", "january"]),
        ("user={member}", ["january"]),
        ("date_from=2024-02-01", ["today", "february"]),
        ("date_to=2024-01-31", ["january"]),
        ("date_from=2024-01-10&date_to=2024-02-10", ["february", "january"]),
        ("negative_feedback=true", ["january"]),
        ("negative_feedback=false", ["today", "february"]),
        ("unanswered=true", ["february"]),
        ("unanswered=false", ["today", "january"]),
        ("unanswered=false&negative_feedback=false", ["today"]),
    ],
)
def test_list_filters(admin_user, member, bot, history, query, expected):
    """Each filter (and a combination) selects the expected conversations, newest first."""
    url = base_url(bot) + "?" + query.format(member=member.pk)

    response = client_for(admin_user).get(url)

    assert response.status_code == 200, response.content
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == [history[name].pk for name in expected]


def test_list_whole_body(admin_user, bot, history):
    """The paginated envelope with each conversation's whole body."""
    response = client_for(admin_user).get(base_url(bot))

    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [conversation_body(history[name]) for name in ("today", "february", "january")],
    }


@pytest.mark.parametrize("query", ["channel=fax", "date_from=yesterday", "unanswered=maybe", "user=0"])
def test_list_bad_filter_is_400(admin_user, bot, query):
    """An invalid filter value is a 400, not silently ignored."""
    response = client_for(admin_user).get(f"{base_url(bot)}?{query}")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert list(response.json()["error"]["details"]) == [query.split("=")[0]]


@pytest.mark.parametrize("path", ["", "export/"])
def test_an_inverted_date_range_is_400(admin_user, bot, path):
    """date_to before date_from: a 400 naming date_to on the list and the export (the export answered an empty
    200), as on the interactions and analytics."""
    response = client_for(admin_user).get(f"{base_url(bot)}{path}?date_from=2020-01-01&date_to=2019-01-01")

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Invalid input. date_to: Must not be before date_from."


def test_list_query_count_does_not_grow(admin_user, bot, member):
    """Listing 1 or 6 conversations (with users) costs the same number of queries."""
    client = client_for(admin_user)
    make_conversation(bot, user=member)
    with CaptureQueriesContext(connection) as one:
        assert client.get(base_url(bot)).status_code == 200
    for _ in range(5):
        make_conversation(bot, user=MembershipFactory(organization=bot.organization).user)
    with CaptureQueriesContext(connection) as six:
        assert len(client.get(base_url(bot)).json()["results"]) == 6

    assert len(six) == len(one)


# --------------------------------------------------------------------------- detail and delete


def test_detail_includes_the_messages_in_order(member, bot):
    """GET a conversation: its body plus every message, oldest first."""
    conversation = make_conversation(bot, user=member, answers=[("ok", None), ("unanswered", -1)])

    response = client_for(member).get(conversation_url(conversation))

    assert response.status_code == 200
    assert response.json() == conversation_body(conversation, messages=True)
    assert [m["content"] for m in response.json()["messages"]] == ["question 0", "answer 0", "question 1", "answer 1"]


def test_delete_removes_the_conversation_and_its_messages(member, bot):
    """DELETE: 204; the conversation and its messages are gone, others stay."""
    conversation = make_conversation(bot, user=member, answers=[("ok", None)])
    other = make_conversation(bot, user=member, answers=[("ok", None)])

    response = client_for(member).delete(conversation_url(conversation))

    assert response.status_code == 204
    assert list(Conversation.objects.values_list("pk", flat=True)) == [other.pk]
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert Message.objects.filter(conversation=other).count() == 2


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("delete", ""),
        ("post", "messages/"),
        ("get", "export/"),
        ("post", "messages/1/feedback/"),
    ],
)
def test_unknown_conversation_is_404(admin_user, bot, method, suffix):
    """A conversation id that does not exist: 404 on every route."""
    url = f"{base_url(bot)}999999/{suffix}"

    response = getattr(client_for(admin_user), method)(url, {"content": "Hi", "value": 1}, format="json")

    assert response.status_code == 404
    assert response.json() == error("not_found", "Conversation not found.")


# --------------------------------------------------------------------------- feedback


def feedback_url(message) -> str:
    return conversation_url(message.conversation, f"messages/{message.pk}/feedback/")


@pytest.mark.parametrize(("value", "comment"), [(-1, "The refund period is wrong."), (1, "Spot on")])
def test_feedback_on_an_answer(member, bot, value, comment):
    """+1 / -1 with a comment: 200 with the updated message; stored."""
    conversation = make_conversation(bot, user=member, answers=[("ok", None)])
    answer = conversation.messages.get(role="assistant")

    response = client_for(member).post(feedback_url(answer), {"value": value, "comment": comment}, format="json")

    assert response.status_code == 200, response.content
    answer.refresh_from_db()
    assert (answer.feedback, answer.feedback_comment) == (value, comment)
    assert response.json() == message_body(answer)


def test_feedback_on_a_user_message_is_400(member, bot):
    """Feedback is for answers: a user message -> 400 not_an_answer, nothing stored."""
    conversation = make_conversation(bot, user=member, answers=[("ok", None)])
    question = conversation.messages.get(role="user")

    response = client_for(member).post(feedback_url(question), {"value": 1}, format="json")

    assert response.status_code == 400
    assert response.json() == error("not_an_answer", "Feedback is given on the assistant's answers only.")
    question.refresh_from_db()
    assert question.feedback is None


@pytest.mark.parametrize("value", [0, 2, "up", None])
def test_feedback_value_must_be_plus_or_minus_one(member, bot, value):
    """value 0 (or anything but 1 / -1) -> 400 naming value."""
    conversation = make_conversation(bot, user=member, answers=[("ok", None)])
    answer = conversation.messages.get(role="assistant")

    response = client_for(member).post(feedback_url(answer), {"value": value}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["value"]
    answer.refresh_from_db()
    assert answer.feedback is None


def test_feedback_on_a_message_of_another_conversation_is_404(member, bot):
    """A message id of another conversation under this conversation's URL -> 404."""
    mine = make_conversation(bot, user=member, answers=[("ok", None)])
    other = make_conversation(bot, user=member, answers=[("ok", None)])
    answer = other.messages.get(role="assistant")

    response = client_for(member).post(
        conversation_url(mine, f"messages/{answer.pk}/feedback/"), {"value": 1}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == error("not_found", "Message not found.")


# --------------------------------------------------------------------------- export


def read_body(response) -> str:
    """An export's body: it is streamed."""
    assert response.streaming
    return b"".join(response.streaming_content).decode()


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(read_body(response))))


def read_csv_text(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def read_json(response) -> dict:
    return json.loads(read_body(response))


def test_export_date_range_as_json(admin_user, bot, history):
    """Admins export the messages of the conversations in a date range as JSON."""
    url = f"{base_url(bot)}export/?date_from=2024-01-01&date_to=2024-01-31"

    response = client_for(admin_user).get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="bot-{bot.pk}-conversations.json"'
    rows = read_json(response)["messages"]
    january = history["january"]
    messages = list(january.messages.order_by("created_at", "id"))
    assert [row["message_id"] for row in rows] == [m.pk for m in messages]
    assert rows[3] == {
        "conversation_id": january.pk,
        "channel": "api",
        "user": january.user.email,
        "visitor_id": "",
        "message_id": messages[3].pk,
        "role": "assistant",
        "status": "ok",
        "content": "answer 1",
        "citations": [],
        "model": "",
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "latency_ms": 0,
        "feedback": -1,
        "feedback_comment": "",
        "created_at": messages[3].created_at.isoformat(),
    }


def test_export_date_range_as_csv(admin_user, bot, history):
    """CSV: the documented header, then one row per message of the range's conversations."""
    url = f"{base_url(bot)}export/?export_format=csv&date_from=2024-02-01"

    response = client_for(admin_user).get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="bot-{bot.pk}-conversations.csv"'
    rows = read_csv(response)
    assert rows[0] == EXPORT_FIELDS
    expected = Message.objects.filter(conversation__in=[history["february"], history["today"]])
    assert sorted(int(row[4]) for row in rows[1:]) == sorted(expected.values_list("pk", flat=True))
    february = [dict(zip(EXPORT_FIELDS, row, strict=True)) for row in rows[1:] if row[0] == str(history["february"].pk)]
    assert [(r["channel"], r["visitor_id"], r["role"], r["status"]) for r in february] == [
        ("widget", "visitor-1", "user", "ok"),
        ("widget", "visitor-1", "assistant", "unanswered"),
    ]


def test_export_date_range_needs_admin(member, owner, bot, history):
    """Members cannot export the bot's conversations (403); owners can."""
    url = f"{base_url(bot)}export/"

    assert client_for(member).get(url).status_code == 403
    assert client_for(owner).get(url).status_code == 200


def test_export_one_conversation_csv_neutralises_formulas(member, bot):
    """One conversation as CSV: documented header; a cell starting with "=" gets a leading quote."""
    conversation = make_conversation(bot, user=member)
    for role, content in [("user", '=HYPERLINK("http://evil.test","x")'), ("assistant", "+1 and -1 are fine")]:
        Message.objects.create(organization=bot.organization, conversation=conversation, role=role, content=content)

    response = client_for(member).get(conversation_url(conversation, "export/?export_format=csv"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="conversation-{conversation.pk}.csv"'
    rows = read_csv(response)
    assert rows[0] == EXPORT_FIELDS
    contents = [dict(zip(EXPORT_FIELDS, row, strict=True))["content"] for row in rows[1:]]
    assert contents == ['\'=HYPERLINK("http://evil.test","x")', "'+1 and -1 are fine"]


def test_export_csv_keeps_empty_cells_empty(member, bot):
    """Empty values (no visitor id, no model on a user message, no comment) export as empty cells."""
    conversation = make_conversation(bot, user=member, answers=[("ok", None)])

    rows = read_csv(client_for(member).get(conversation_url(conversation, "export/?export_format=csv")))

    question = dict(zip(EXPORT_FIELDS, rows[1], strict=True))
    assert (question["visitor_id"], question["model"], question["feedback_comment"]) == ("", "", "")


def test_export_one_conversation_as_json(member, bot):
    """One conversation as JSON (the default format): its messages only."""
    conversation = make_conversation(bot, user=member, answers=[("ok", 1)])
    make_conversation(bot, user=member, answers=[("ok", None)])

    response = client_for(member).get(conversation_url(conversation, "export/"))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="conversation-{conversation.pk}.json"'
    rows = read_json(response)["messages"]
    assert [(r["conversation_id"], r["role"], r["content"], r["feedback"]) for r in rows] == [
        (conversation.pk, "user", "question 0", None),
        (conversation.pk, "assistant", "answer 0", 1),
    ]


@pytest.mark.parametrize("export_format", ["json", "csv"])
def test_export_streams_a_batch_at_a_time(admin_user, bot, monkeypatch, export_format):
    """The export is written as its rows are read (drill D: a whole bot's 100,000 messages were built in memory,
    18 s before the first byte): one part per batch, one query whatever the number of messages, and the parts
    make the same document as one batch does."""
    for _ in range(3):
        make_conversation(bot, answers=[("ok", None), ("unanswered", -1)])
    url = f"{base_url(bot)}export/?export_format={export_format}"
    client = client_for(admin_user)
    whole = read_body(client.get(url))

    monkeypatch.setattr("apps.conversations.api.views.EXPORT_BATCH", 5)
    with CaptureQueriesContext(connection) as queries:
        parts = list(client.get(url).streaming_content)
    messages = [q["sql"] for q in queries.captured_queries if "conversations_message" in q["sql"]]

    assert len(messages) == 1
    assert len(parts) >= 12 // 5 + 1  # 12 messages: at least 3 batches
    assert b"".join(parts).decode() == whole
    rows = json.loads(whole)["messages"] if export_format == "json" else read_csv_text(whole)[1:]
    assert len(rows) == 12


# --------------------------------------------------------------------------- who sees what


def test_members_see_only_their_own_conversations(member, bot):
    """A member's list holds only their conversations; another member's id is 404 on every route."""
    mine = make_conversation(bot, user=member, answers=[("ok", None)])
    colleague = MembershipFactory(organization=bot.organization, role=Role.MEMBER).user
    theirs = make_conversation(bot, user=colleague, answers=[("ok", None)])
    answer = theirs.messages.get(role="assistant")
    client = client_for(member)

    assert [row["id"] for row in client.get(base_url(bot)).json()["results"]] == [mine.pk]
    assert [row["id"] for row in client.get(f"{base_url(bot)}?user={colleague.pk}").json()["results"]] == []
    assert client.get(conversation_url(theirs)).status_code == 404
    assert client.get(conversation_url(theirs, "export/")).status_code == 404
    assert client.post(conversation_url(theirs, "messages/"), {"content": "Hi"}, format="json").status_code == 404
    assert client.post(feedback_url(answer), {"value": -1}, format="json").status_code == 404
    assert client.delete(conversation_url(theirs)).status_code == 404
    assert Conversation.objects.filter(pk=theirs.pk).exists()
    assert theirs.messages.count() == 2
    answer.refresh_from_db()
    assert answer.feedback is None


def test_admins_see_every_conversation(admin_user, member, bot):
    """Admins list and read everyone's conversations, anonymous widget ones included."""
    by_member = make_conversation(bot, user=member)
    by_visitor = make_conversation(bot, channel="widget", visitor_id="v-9")
    client = client_for(admin_user)

    assert [row["id"] for row in client.get(base_url(bot)).json()["results"]] == [by_visitor.pk, by_member.pk]
    assert client.get(conversation_url(by_member)).status_code == 200
    assert client.get(conversation_url(by_visitor)).json()["user"] is None


def test_api_key_read_scope_lists_but_cannot_start_or_send(organization, member, bot):
    """A read-only API key lists and reads every conversation but cannot start one or send (403)."""
    conversation = make_conversation(bot, user=member)
    client = api_key_client(organization, ["read"])

    assert [row["id"] for row in client.get(base_url(bot)).json()["results"]] == [conversation.pk]
    assert client.get(conversation_url(conversation)).status_code == 200
    started = client.post(base_url(bot), {}, format="json")
    sent = client.post(conversation_url(conversation, "messages/"), {"content": REFUND_QUESTION}, format="json")

    assert started.status_code == sent.status_code == 403
    assert sent.json() == error("permission_denied", "This API key lacks the 'write' scope.")
    assert Conversation.objects.count() == 1 and not conversation.messages.exists()


def test_api_key_write_scope_starts_and_sends(organization, kb_bot):
    """A write API key starts a conversation (no user) and sends a message (201)."""
    client = api_key_client(organization, ["write"])

    started = client.post(base_url(kb_bot), {}, format="json")
    assert started.status_code == 201, started.content
    assert started.json()["user"] is None
    conversation = Conversation.objects.get(pk=started.json()["id"])
    sent = client.post(conversation_url(conversation, "messages/"), {"content": REFUND_QUESTION}, format="json")

    assert sent.status_code == 201, sent.content
    assert sent.json()["answer"]["status"] == "ok"
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "assistant"]


def test_anonymous_is_401(bot):
    """No credentials: 401 on the list and on start."""
    from rest_framework.test import APIClient

    client = APIClient()

    assert client.get(base_url(bot)).status_code == 401
    assert client.post(base_url(bot), {}, format="json").status_code == 401
    assert not Conversation.objects.exists()


# --------------------------------------------------------------------------- tenancy


def test_other_organizations_bot_and_conversations_are_404(admin_user, bot, other_organization):
    """Another organization's bot under our slug, and its conversations under our bot, are 404 and never listed."""
    foreign_bot = BotFactory(organization=other_organization)
    foreign = make_conversation(foreign_bot, answers=[("ok", None)])
    client = client_for(admin_user)

    assert client.get(base_url(foreign_bot, bot.organization)).json() == error("not_found", "Bot not found.")
    assert client.get(f"{base_url(foreign_bot, bot.organization)}{foreign.pk}/").status_code == 404
    assert client.get(f"{base_url(bot)}{foreign.pk}/").status_code == 404
    assert client.post(f"{base_url(bot)}{foreign.pk}/messages/", {"content": "Hi"}, format="json").status_code == 404
    assert client.delete(f"{base_url(bot)}{foreign.pk}/").status_code == 404
    assert client.get(base_url(foreign_bot)).status_code == 404  # their slug: not a member
    assert client.get(base_url(bot)).json()["results"] == []
    assert Conversation.objects.filter(pk=foreign.pk).exists() and foreign.messages.count() == 2


def test_conversation_of_another_bot_is_404_under_this_bot(admin_user, bot):
    """Same organization, another bot: its conversation id under this bot's URL is 404."""
    sibling = BotFactory(organization=bot.organization)
    conversation = make_conversation(sibling, answers=[("ok", None)])
    answer = conversation.messages.get(role="assistant")
    client = client_for(admin_user)

    assert client.get(f"{base_url(bot)}{conversation.pk}/").status_code == 404
    assert client.get(f"{base_url(bot)}{conversation.pk}/export/").status_code == 404
    assert (
        client.post(f"{base_url(bot)}{conversation.pk}/messages/{answer.pk}/feedback/", {"value": 1}).status_code == 404
    )
    assert client.get(f"{base_url(sibling)}{conversation.pk}/").status_code == 200
    assert client.get(base_url(bot)).json()["results"] == []


# --------------------------------------------------------------------------- input and limits


def test_malformed_json_is_400(member, bot):
    """A body that is not JSON: 400 parse_error, nothing stored."""
    conversation = make_conversation(bot, user=member)

    response = client_for(member).post(
        conversation_url(conversation, "messages/"), data='{"content": "Hi', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert not conversation.messages.exists()


@pytest.mark.parametrize(("content", "code"), [("x" * 4001, "max_length"), ("   ", "blank"), (None, "null")])
def test_message_content_is_validated(member, bot, content, code):
    """Over 4000 characters, blank, or null content: 400 naming content, nothing stored."""
    conversation = make_conversation(bot, user=member)

    response = client_for(member).post(conversation_url(conversation, "messages/"), {"content": content}, format="json")

    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["content"]
    assert not conversation.messages.exists()


def test_content_of_exactly_4000_characters_is_accepted(member, bot, offline):
    """The limit is inclusive: 4000 characters are accepted."""
    conversation = make_conversation(bot, user=member)

    response = client_for(member).post(conversation_url(conversation, "messages/"), {"content": "y" * 4000})

    assert response.status_code == 201, response.content
    assert len(response.json()["question"]["content"]) == 4000


@pytest.fixture
def tiny_plan_org(organization):
    organization.plan = Plan.objects.create(code="tiny-api", name="Tiny", max_monthly_messages=2)
    organization.save()
    return organization


def test_monthly_message_limit_is_429(member, bot, offline, tiny_plan_org):
    """The third message of a 2-message plan: 429 message_limit_exceeded with resets_at and retry_after."""
    conversation = make_conversation(bot, user=member)
    client = client_for(member)
    url = conversation_url(conversation, "messages/")
    for _ in range(2):
        assert client.post(url, {"content": "Hello"}, format="json").status_code == 201

    response = client.post(url, {"content": "Hello"}, format="json")

    assert response.status_code == 429
    body = response.json()["error"]
    now = datetime.now(UTC)
    reset = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert body["code"] == "message_limit_exceeded"
    assert body["details"]["resets_at"] == reset.isoformat()
    assert 0 < body["details"]["retry_after"] <= (reset - now).total_seconds() + 5
    assert (body["details"]["limit"], body["details"]["used"]) == (2, 2)
    assert conversation.messages.filter(role="user").count() == 2

    streamed = client.post(url, {"content": "Hello"}, format="json", HTTP_ACCEPT="text/event-stream")
    assert streamed.status_code == 429
    event, data = streamed.content.decode().strip().split("\n")
    assert event == "event: error"
    assert json.loads(data.removeprefix("data: "))["error"]["code"] == "message_limit_exceeded"


# --------------------------------------------------------------------------- transactions


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_model_is_called_outside_any_transaction_after_the_question_is_committed(llm, streamed):
    """services.py's promise (ATOMIC_REQUESTS is on): no model call inside a transaction; the question is saved."""
    organization = OrganizationFactory()
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    bot = BotFactory(organization=organization, min_score=0.3)
    ingest(bot, "guide.md", samples.md())
    conversation = make_conversation(bot, user=member)
    seen = []
    answer = stream(["Refunds take 14 days [1]."]) if streamed else completion("Refunds take 14 days [1].")

    def reply(request):
        stored = Message.objects.filter(conversation=conversation, role="user", content=REFUND_QUESTION).exists()
        seen.append((transaction.get_connection().in_atomic_block, stored))
        return answer(request)

    llm(reply)
    response = client_for(member).post(
        conversation_url(conversation, "messages/"), {"content": REFUND_QUESTION, "stream": streamed}, format="json"
    )
    if streamed:
        assert sse_events(response)[-1][1]["status"] == "ok"
    else:
        assert response.status_code == 201, response.content

    assert seen == [(False, True)]
    assert list(conversation.messages.values_list("role", "status")) == [("user", "ok"), ("assistant", "ok")]
