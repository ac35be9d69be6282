"""Django admin: every registered model's changelist (with search) and change page render for staff."""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from apps.boards.models import Goal, VisionBoard
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, EvaluationRun, Message
from apps.conversations.qa import qa_pair_create
from apps.documents.models import Chunk
from apps.documents.tests.factories import DocumentFactory
from apps.interests.services import member_interests_set
from apps.organizations.models import Invitation, Role
from apps.organizations.services import invitation_create
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.outreach.models import OutreachOptOut
from apps.outreach.tests.factories import CampaignFactory, CampaignMessageFactory
from apps.sources.tests.factories import CrawlPageFactory
from apps.users.tests.factories import UserFactory
from apps.webhooks.models import WebhookAttempt
from apps.webhooks.tests.factories import WebhookDeliveryFactory, WebhookEndpointFactory


@pytest.fixture
def populated(db):
    owner = MembershipFactory(role=Role.OWNER)
    invitation_create(organization=owner.organization, email="x@example.com", role=Role.MEMBER, actor=owner)
    api_key_for(owner.organization)
    bot = BotFactory(organization=owner.organization, name="Example bot")
    document = DocumentFactory(bot=bot, title="example guide")
    Chunk.objects.create(
        organization=owner.organization, bot=bot, document=document, position=0, text="example text", content_hash="x"
    )
    conversation = Conversation.objects.create(organization=owner.organization, bot=bot, title="example question")
    Message.objects.create(
        organization=owner.organization, conversation=conversation, role="user", content="example question"
    )
    qa_pair_create(organization=owner.organization, bot=bot, question="example question?", answer="An example.")
    EvaluationRun.objects.create(organization=owner.organization, bot=bot)
    CrawlPageFactory(source__bot=bot, source__url="https://example.com/", document=document, error="example error")
    delivery = WebhookDeliveryFactory(endpoint=WebhookEndpointFactory(organization=owner.organization))
    WebhookAttempt.objects.create(delivery=delivery, number=1, started_at=delivery.created_at, status_code=500)
    goal = Goal.objects.create(organization=owner.organization, user=owner.user, text="example goal")
    VisionBoard.objects.create(
        organization=goal.organization, user=owner.user, version=1, inputs_hash="0" * 64, layout={}, svg="<svg/>",
        png="boards/example.png", width=1, height=1, captions="template",
    )  # fmt: skip
    campaign = CampaignFactory(organization=owner.organization, name="example campaign")
    CampaignMessageFactory(campaign=campaign, user=owner.user, subject="example subject")
    OutreachOptOut.objects.create(organization=owner.organization, user=owner.user, source="link")
    member_interests_set(organization=owner.organization, user_id=owner.user_id, source="stated", interests=["example"])
    return owner


APPS = {
    "users", "organizations", "bots", "documents", "conversations", "sources", "webhooks", "boards", "outreach",
    "interests",
}  # fmt: skip
MODELS = [model for model in admin.site._registry if model._meta.app_label in APPS]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_and_change_page_render(staff_client, populated, model):
    """Changelist, a search, and the first object's change page answer 200."""
    prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    changelist = reverse(f"{prefix}_changelist")
    assert staff_client.get(changelist).status_code == 200
    assert staff_client.get(changelist, {"q": "example"}).status_code == 200
    obj = model.objects.first()
    assert obj is not None
    assert staff_client.get(reverse(f"{prefix}_change", args=[obj.pk])).status_code == 200


def test_revoke_invitation_action(staff_client, populated):
    """The admin action revokes pending invitations through the service."""
    invitation = Invitation.objects.get()
    response = staff_client.post(
        reverse("admin:organizations_invitation_changelist"),
        {"action": "revoke", "_selected_action": [invitation.pk]},
    )
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.REVOKED


def test_non_staff_is_sent_to_login(db):
    """A signed-in non-staff user cannot open the admin."""
    client = Client()
    client.force_login(UserFactory())
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
