"""Access matrix: nothing of organization B is visible to or changeable by organization A.

Walks every URL pattern under `api/v1/orgs/<org_slug>/` (so endpoints added later join
automatically) and checks, for every HTTP method:
- an owner of A (the strongest role) gets 404 on each B URL, with the error envelope;
- an API key of A (read+write) gets 404 on each B URL;
- B's object ids under A's slug are 404 too (object scoping, not just org scoping), and so are B's
  external ids given as parameters (issue 18: user_external_id, item_external_id);
- nothing in B changed.
"""

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from apps.boards.models import Goal, VisionBoard
from apps.boards.tests.factories import GoalFactory
from apps.bots.models import Bot
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, EvaluationRun, Message, QAPair
from apps.conversations.qa import qa_pair_create
from apps.documents.models import Document
from apps.documents.tests.factories import DocumentFactory
from apps.interests.models import MemberInterest
from apps.interests.services import member_interests_set
from apps.organizations.models import ApiKey, Invitation, Membership, Role
from apps.organizations.services import invitation_create
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.outreach.models import Campaign, CampaignMessage, OutreachOptOut
from apps.outreach.tests.factories import CampaignFactory, CampaignMessageFactory
from apps.personality.models import AssessmentResponse, PersonalityProfile
from apps.personality.services import assessment_submit, profile_recompute
from apps.progress.models import ContentItem, Interaction, Progress
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.recommendations.engine import cache as rec_cache
from apps.recommendations.models import RecommendationLog
from apps.sources.models import CrawlSource
from apps.sources.tests.factories import CrawlPageFactory
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.tests.factories import WebhookDeliveryFactory, WebhookEndpointFactory
from conftest import client_for

METHODS = ["get", "post", "put", "patch", "delete"]


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def org_routes() -> list[str]:
    return sorted({r for r in _walk(get_resolver().url_patterns) if r.startswith("api/v1/orgs/<slug:org_slug>/")})


def _fill(route: str, values: dict) -> str:
    def replace(match):
        name = match.group(2)
        if name not in values:
            pytest.fail(f"Add an object of organization B for URL kwarg '{name}' in {__name__}.")
        return str(values[name])

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", replace, route)


@pytest.fixture
def world(db):
    org_a, org_b = OrganizationFactory(), OrganizationFactory()
    owner_a = MembershipFactory(organization=org_a, role=Role.OWNER)
    owner_b = MembershipFactory(organization=org_b, role=Role.OWNER)
    member_b = MembershipFactory(organization=org_b, role=Role.MEMBER)
    invitation_b = invitation_create(organization=org_b, email="guest@example.com", role=Role.MEMBER, actor=owner_b)
    key_b, _ = api_key_for(org_b)
    Membership.objects.filter(pk=member_b.pk).update(external_id="crm-b")
    _, key_a = api_key_for(org_a)
    bot_b = BotFactory(organization=org_b)
    document_b = DocumentFactory(bot=bot_b)
    page_b = CrawlPageFactory(source__bot=bot_b)
    conversation_b = Conversation.objects.create(organization=org_b, bot=bot_b, user=owner_b.user)
    message_b = Message.objects.create(
        organization=org_b, conversation=conversation_b, role=Message.Role.ASSISTANT, content="B's answer"
    )
    pair_b = qa_pair_create(organization=org_b, bot=bot_b, question="What is B's secret?", answer="B's answer.")
    run_b = EvaluationRun.objects.create(organization=org_b, bot=bot_b)
    item_b = ContentItemFactory(organization=org_b)
    ProgressFactory(item=item_b, user=member_b.user)
    InteractionFactory(item=item_b, user=member_b.user)
    log_b = RecommendationLog.objects.create(
        organization=org_b, user=member_b.user, item=item_b, request_id=uuid.uuid4(), position=1, source="popular",
        reason="Popular right now", score=1.0,
    )  # fmt: skip
    answers = {str(n): 1 + n % 5 for n in range(1, 21)}  # issue 8: B's member has answers and a profile
    assessment_submit(organization=org_b, user=member_b.user, instrument="mini_ipip", answers=answers)
    profile_recompute(organization_id=org_b.pk, user_id=member_b.user.pk)
    webhook_b = WebhookEndpointFactory(organization=org_b)
    delivery_b = WebhookDeliveryFactory(endpoint=webhook_b)
    goal_b = GoalFactory(organization=org_b, user=member_b.user)  # issue 19: B's member has a goal and a board
    VisionBoard.objects.create(
        organization=org_b, user=member_b.user, version=1, inputs_hash="0" * 64, layout={}, svg="<svg/>",
        png="boards/b.png", width=1, height=1, captions="template",
    )  # fmt: skip
    campaign_b = CampaignFactory(organization=org_b, status=Campaign.Status.READY)  # issue 19: outreach
    campaign_message_b = CampaignMessageFactory(campaign=campaign_b, user=member_b.user)
    # issue 19: B's member has interests (members/{id}/interests/ of B under A's slug is 404)
    member_interests_set(organization=org_b, user_id=member_b.user_id, source="stated", interests=["b's secret"])
    b_objects = {
        "org_slug": org_b.slug,
        "membership_id": member_b.pk,
        "invitation_id": invitation_b.pk,
        "api_key_id": key_b.pk,
        "bot_id": bot_b.pk,
        "document_id": document_b.pk,
        "source_id": page_b.source_id,
        "conversation_id": conversation_b.pk,
        "message_id": message_b.pk,
        "pair_id": pair_b.pk,
        "run_id": run_b.pk,
        "item_id": item_b.pk,
        "log_id": log_b.pk,
        "user_id": member_b.user.pk,
        "webhook_id": webhook_b.pk,
        "delivery_id": delivery_b.pk,
        "goal_id": goal_b.pk,
        "campaign_id": campaign_b.pk,
        "campaign_message_id": campaign_message_b.pk,
    }
    return {"org_a": org_a, "owner_a": owner_a.user, "key_a": key_a, "org_b": org_b, "b": b_objects}


def _snapshot(org):
    return (
        org.name,
        sorted(Membership.objects.filter(organization=org).values_list("pk", "role")),
        sorted(Invitation.objects.filter(organization=org).values_list("pk", "revoked_at")),
        sorted(ApiKey.objects.filter(organization=org).values_list("pk", "revoked_at")),
        sorted(Document.objects.filter(organization=org).values_list("pk", "status", "updated_at")),
        sorted(CrawlSource.objects.filter(organization=org).values_list("pk", "status", "run", "cancel_requested")),
        sorted(Message.objects.filter(organization=org).values_list("pk", "content", "feedback")),
        sorted(QAPair.objects.filter(organization=org).values_list("pk", "question", "answer")),
        sorted(EvaluationRun.objects.filter(organization=org).values_list("pk", "status")),
        sorted(Bot.objects.filter(organization=org).values_list("pk", "min_score", "calibration_requested_at")),
        sorted(ContentItem.objects.filter(organization=org).values_list("pk", "title", "updated_at")),
        sorted(Progress.objects.filter(organization=org).values_list("pk", "status", "updated_at")),
        Interaction.objects.filter(organization=org).count(),
        sorted(RecommendationLog.objects.filter(organization=org).values_list("pk", "clicked_at", "dismissed_at")),
        sorted(PersonalityProfile.objects.filter(organization=org).values_list("pk", flat=True)),
        sorted(AssessmentResponse.objects.filter(organization=org).values_list("pk", flat=True)),
        sorted(WebhookEndpoint.objects.filter(organization=org).values_list("pk", "url", "events", "is_active")),
        sorted(WebhookDelivery.objects.filter(organization=org).values_list("pk", "status", "attempt_count")),
        # issue 18: B's cached lists were not cleared, no training was queued
        rec_cache.organization_version(organization_id=org.pk),
        rec_cache.training_queued_get(organization_id=org.pk),
        sorted(Goal.objects.filter(organization=org).values_list("pk", "text", "target_date")),
        sorted(VisionBoard.objects.filter(organization=org).values_list("pk", "version", "share_key")),
        sorted(Campaign.objects.filter(organization=org).values_list("pk", "name", "status", "filters")),
        sorted(CampaignMessage.objects.filter(organization=org).values_list("pk", "subject", "status")),
        sorted(OutreachOptOut.objects.filter(organization=org).values_list("pk", flat=True)),
        sorted(MemberInterest.objects.filter(organization=org).values_list("pk", "value_id", "weight", "updated_at")),
    )


def test_routes_are_discovered():
    """The walk finds the org-scoped endpoints (guards against a silently empty matrix)."""
    routes = org_routes()
    assert "api/v1/orgs/<slug:org_slug>/members/<int:membership_id>/" in routes
    assert len(routes) >= 7


@pytest.mark.parametrize("route", org_routes())
def test_member_of_a_gets_404_on_every_b_url(world, route):
    """Owner of A: 404 with the error envelope for every method on every B URL; B unchanged."""
    client = client_for(world["owner_a"])
    before = _snapshot(world["org_b"])
    url = _fill(route, world["b"])
    for method in METHODS:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.content)
        assert response.json()["error"]["code"] == "not_found"
    world["org_b"].refresh_from_db()
    assert _snapshot(world["org_b"]) == before


@pytest.mark.parametrize("route", org_routes())
def test_api_key_of_a_gets_404_on_every_b_url(world, route):
    """An API key of A: 404 for every method on every B URL."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['key_a']}")
    url = _fill(route, world["b"])
    for method in METHODS:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 404, (method, url, response.content)


@pytest.mark.parametrize("route", [r for r in org_routes() if r.count("<") > 1])
def test_b_object_ids_under_a_slug_are_404(world, route):
    """B's object ids under A's own slug: 404 for reads and writes (querysets are scoped)."""
    client = client_for(world["owner_a"])
    before = _snapshot(world["org_b"])
    url = _fill(route, {**world["b"], "org_slug": world["org_a"].slug})
    view = resolve(url).func.view_class
    methods = [m for m in ["get", "patch", "put", "delete", "post"] if hasattr(view, m)]
    assert methods
    for method in methods:
        response = getattr(client, method)(url, {"role": "member"}, format="json")
        assert response.status_code == 404, (method, url, response.content)
    assert _snapshot(world["org_b"]) == before


@pytest.mark.parametrize(
    ("method", "path", "params"),
    [
        ("get", "recommendations/", {"user_external_id": "crm-b"}),
        ("get", "interactions/", {"user_external_id": "crm-b"}),
        ("get", "interactions/", {"item_external_id": "{item_external_id}"}),
        ("get", "content/similar/", {"item_external_id": "{item_external_id}"}),
        ("get", "content/similar/", {"item": "{item_id}"}),
        ("post", "recommendations/cache/clear/", {"user_external_id": "crm-b"}),
        ("post", "recommendations/cache/clear/", {"user": "{user_id}"}),
    ],
)
def test_b_external_ids_under_a_slug_are_404(world, method, path, params):
    """Issue 18: B's member and item named by external id (or id) in A's parameters: 404, B unchanged."""
    client = client_for(world["owner_a"])
    before = _snapshot(world["org_b"])
    item_b = ContentItem.objects.get(organization=world["org_b"])
    values = {"item_external_id": item_b.external_id, "item_id": item_b.pk, "user_id": world["b"]["user_id"]}
    filled = {name: value.format(**values) for name, value in params.items()}
    if method == "post":  # JSON bodies take ids as numbers
        filled = {name: int(value) if value.isdigit() else value for name, value in filled.items()}
    url = f"/api/v1/orgs/{world['org_a'].slug}/{path}"
    response = client.get(url, filled) if method == "get" else client.post(url, filled, format="json")
    assert response.status_code == 404, (url, filled, response.content)
    assert response.json()["error"]["code"] == "not_found"
    assert _snapshot(world["org_b"]) == before
