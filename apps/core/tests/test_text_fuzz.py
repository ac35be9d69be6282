"""Property test over the schema's text fields (issue 13 #4): a NUL or a lone surrogate is a 400
naming the field, wherever a string is accepted, never a 5xx.

The operations come from the API's own OpenAPI schema (drf-spectacular's generator, as served at
/api/schema/): for every operation with a JSON body and every string property in it, nested
objects and arrays included (free-form objects get a key `note`), hypothesis injects a NUL or a
lone surrogate at a random position of a random text and the request is sent as the owner of a
real organization, with real ids in the path (bot, conversation, message, item, membership,
recommendation log, webhook and delivery, goal, campaign and campaign message, the widget's bot and visitor
token). The same for every string query parameter. Endpoints added later join automatically. Fixed
seed, like test_schema_fuzz.py.
"""

import json
import re
import uuid
from urllib.parse import quote

import pytest
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.boards.tests.factories import GoalFactory
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, EvaluationRun, Message
from apps.conversations.qa import qa_pair_create
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.outreach.tests.factories import CampaignFactory, CampaignMessageFactory
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.models import RecommendationLog
from apps.sources.tests.factories import CrawlSourceFactory
from apps.users.api.serializers import token_pair
from apps.webhooks.tests.factories import WebhookDeliveryFactory, WebhookEndpointFactory

SITE = "https://shop.example.com"
FREE_KEY = "note"

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
COMPONENTS = SCHEMA["components"]["schemas"]


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = COMPONENTS[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _string_paths(node: dict, path: tuple = ()) -> list[tuple]:
    """Paths (keys and list positions) of every string a body of this schema can carry."""
    node = _resolve(node)
    paths = []
    for combined in ("allOf", "oneOf", "anyOf"):
        for sub in node.get(combined, []):
            paths += _string_paths(sub, path)
    kind = node.get("type")
    if kind == "string" or (kind is None and "enum" in node):
        paths.append(path)
    elif kind == "array":
        paths += _string_paths(node.get("items", {}), (*path, 0))
    elif kind == "object" or "properties" in node:
        for name, sub in node.get("properties", {}).items():
            paths += _string_paths(sub, (*path, name))
        extra = node.get("additionalProperties")
        if extra is True or extra == {}:
            paths.append((*path, FREE_KEY))
        elif isinstance(extra, dict):
            paths += _string_paths(extra, (*path, FREE_KEY))
    return list(dict.fromkeys(paths))


def _body_cases() -> list:
    cases = []
    for url, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for path in _string_paths(content["application/json"]["schema"]):
                    cases.append(pytest.param(method, url, path, id=f"{operation['operationId']}:{_label(path)}"))
    return cases


def _query_cases() -> list:
    cases = []
    for url, operations in SCHEMA["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query" and _resolve(parameter.get("schema", {})).get("type") == "string":
                    name = parameter["name"]
                    cases.append(pytest.param(method, url, name, id=f"{operation['operationId']}:{name}"))
    return cases


def _label(path: tuple) -> str:
    """A path as the error message names it: metadata.note, items[0].external_id."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _body(path: tuple, value: str):
    for part in reversed(path):
        value = [value] if isinstance(part, int) else {part: value}
    return value


BAD = st.one_of(st.just("\x00"), st.integers(0xD800, 0xDFFF).map(chr))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=20)


@st.composite
def hostile_text(draw) -> str:
    text = draw(TEXT)
    position = draw(st.integers(0, len(text)))
    return text[:position] + draw(BAD) + text[position:]


@pytest.fixture
def world(db):
    """A real organization with one of everything a path can name, and a widget visitor."""
    organization = OrganizationFactory(slug="text-fuzz")
    owner = MembershipFactory(organization=organization, role=Role.OWNER).user
    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    bot = BotFactory(organization=organization, allowed_origins=[SITE])
    conversation = Conversation.objects.create(organization=organization, bot=bot, user=owner)
    message = Message.objects.create(
        organization=organization, conversation=conversation, role=Message.Role.ASSISTANT, content="Hello."
    )
    item = ContentItemFactory(organization=organization)
    source = CrawlSourceFactory(bot=bot)
    run = EvaluationRun.objects.create(organization=organization, bot=bot)
    pair = qa_pair_create(organization=organization, bot=bot, question="How do refunds work?", answer="Within 14 days.")
    log = RecommendationLog.objects.create(
        organization=organization, user=owner, item=item, request_id=uuid.uuid4(), position=1, source="popular",
        reason="Popular.", score=1.0,
    )  # fmt: skip
    widget = APIClient()
    widget.credentials(HTTP_ORIGIN=SITE)
    token = widget.post(f"/widget/{bot.public_id}/session/", {}, format="json").json()["token"]
    widget.credentials(HTTP_ORIGIN=SITE, HTTP_AUTHORIZATION=f"Visitor {token}")
    visit = Conversation.objects.get(pk=widget.post(f"/widget/{bot.public_id}/conversations/").json()["id"])
    answer = Message.objects.create(
        organization=organization, conversation=visit, role=Message.Role.ASSISTANT, content="Hi."
    )
    webhook = WebhookEndpointFactory(organization=organization)
    delivery = WebhookDeliveryFactory(endpoint=webhook)
    goal = GoalFactory(organization=organization, user=member.user)
    campaign = CampaignFactory(organization=organization, status="ready")
    campaign_message = CampaignMessageFactory(campaign=campaign, user=member.user)
    api = APIClient()
    api.credentials(HTTP_ORIGIN=SITE, HTTP_AUTHORIZATION=f"Bearer {token_pair(owner)['access']}")
    ids = {
        "org_slug": organization.slug, "bot_id": bot.pk, "conversation_id": conversation.pk,
        "message_id": message.pk, "item_id": item.pk, "membership_id": member.pk, "log_id": log.pk,
        "public_id": bot.public_id, "pair_id": pair.pk, "run_id": run.pk, "source_id": source.pk,
        "webhook_id": webhook.pk, "delivery_id": delivery.pk, "goal_id": goal.pk,
        "campaign_id": campaign.pk,
        "campaign_message_id": campaign_message.pk, "user_id": member.user_id,
    }  # fmt: skip
    widget_ids = {**ids, "conversation_id": visit.pk, "message_id": answer.pk}

    def call(method: str, url: str, **kwargs):
        client, values = (widget, widget_ids) if url.startswith("/widget/") else (api, ids)
        return getattr(client, method)(re.sub(r"{(\w+)}", lambda m: str(values[m.group(1)]), url), **kwargs)

    return call


FUZZ = settings(max_examples=4, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.mark.fuzz
@pytest.mark.parametrize("method, url, path", _body_cases())
@FUZZ
@given(value=hostile_text())
def test_text_in_json_bodies(world, method, url, path, value):
    """A NUL or lone surrogate anywhere in a string of a JSON body: 400 naming the field."""
    response = world(method, url, data=json.dumps(_body(path, value)), content_type="application/json")
    assert response.status_code == 400, (response.status_code, response.content[:300])
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert f"{_label(path)}: " in error["message"], error["message"]


@pytest.mark.fuzz
@pytest.mark.parametrize("method, url, name", _query_cases())
@FUZZ
@given(value=hostile_text())
def test_text_in_query_parameters(world, method, url, name, value):
    """The same in every string query parameter (NUL only: a query string is percent-decoded
    with replacement, so no surrogate can arrive that way)."""
    at = next(i for i, char in enumerate(value) if char == "\x00" or 0xD800 <= ord(char) <= 0xDFFF)
    response = world(method, f"{url}?{name}={quote(value[:at])}%00{quote(value[at + 1 :])}")
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert response.json()["error"]["message"].startswith(f"Invalid input. {name}: ")
