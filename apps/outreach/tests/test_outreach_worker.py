"""A campaign end to end through a real Celery worker (issue 19 item 2; docs/outreach.md): generate over the
API (the worker writes the messages, the LLM faked at its HTTP transport: its first copy is used, its second
invents an item and is replaced by the template's, the reason recorded), review, a member opts out through
their unsubscribe link after generation, send (locmem e-mail backend): every other member gets a multipart
e-mail with the List-Unsubscribe headers and tracked links; the opted-out member gets nothing; a tracked
link from a sent e-mail records the click and a `view` interaction.
"""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail

from apps.outreach.models import Campaign, CampaignMessage, OutreachOptOut
from apps.outreach.tests.conftest import World, copy_reply
from apps.progress.models import Interaction
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_status(campaign_id: int, status: str, timeout: float = 120) -> Campaign:
    """The campaign once the worker moved it to `status` (generation and sending are real work in the
    worker; the bound only stops a broken run hanging, no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        campaign = Campaign.objects.get(pk=campaign_id)
        if campaign.status == status:
            return campaign
        assert campaign.status != "failed", campaign.last_error
        time.sleep(0.2)
    pytest.fail(f"campaign {campaign_id} not {status} within {timeout}s")


def test_generate_review_and_send_through_the_worker(celery_worker, llm, settings):
    settings.OUTREACH_BATCH_SIZE = 2  # several batches for four members
    settings.OUTREACH_SEND_BATCH_SIZE = 2
    world = World()
    fake = llm(copy_reply([world.python.pk]), copy_reply([999_999]))  # the second reply repeats
    client = client_for(world.admin)
    created = client.post(
        f"/api/v1/orgs/{world.organization.slug}/campaigns/",
        {"name": "Welcome back", "goal": "resume_course", "sender_name": "Ada", "sender_email": "ada@acme.test"},
        format="json",
    )
    assert created.status_code == 201, created.content
    url = f"/api/v1/orgs/{world.organization.slug}/campaigns/{created.json()['id']}/"
    assert client.post(url + "generate/").status_code == 202
    campaign = wait_status(created.json()["id"], "ready")
    assert (campaign.members_total, campaign.generated_count, campaign.skipped_count) == (4, 4, 0)
    messages = list(CampaignMessage.objects.filter(campaign=campaign).order_by("user_id"))
    assert [m.composer for m in messages] == ["llm", "template", "template", "template"]
    assert campaign.fallback_count == 3 and fake.calls == 4
    assert all("item 999999 is not in the catalog" in m.composer_note for m in messages[1:])
    assert messages[0].items == [world.python.pk]

    listing = client.get(url + "messages/").json()
    assert listing["count"] == 4
    bob = CampaignMessage.objects.get(campaign=campaign, user=world.bob)
    unsubscribe = re.search(r"http://testserver(/outreach/unsubscribe/[^/\s]+/)", bob.body_text).group(1)
    assert client.post(unsubscribe).status_code == 200  # after generation: respected at send
    ann = CampaignMessage.objects.get(campaign=campaign, user=world.ann)
    edit = client.patch(url + f"messages/{ann.pk}/", {"subject": "Ann, 50% done!"}, format="json")
    assert edit.status_code == 200

    mail.outbox.clear()
    assert client.post(url + "send/").status_code == 202
    campaign = wait_status(campaign.pk, "sent")
    assert (campaign.sent_count, campaign.opted_out_count, campaign.failed_count) == (3, 1, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted([world.admin.email, world.ann.email, world.cy.email])
    assert OutreachOptOut.objects.filter(user=world.bob).exists()
    assert CampaignMessage.objects.get(pk=bob.pk).status == "opted_out"
    sent = next(m for m in mail.outbox if m.to == [world.ann.email])
    assert sent.subject == "Ann, 50% done!"
    assert sent.from_email == "Ada <ada@acme.test>"
    assert sent.extra_headers["List-Unsubscribe"].startswith("<http://testserver/outreach/unsubscribe/")
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html, mimetype = sent.alternatives[0]
    assert mimetype == "text/html" and "Python Foundations" in html
    assert CampaignMessage.objects.get(pk=ann.pk).sent_at is not None

    link = re.search(r"http://testserver(/outreach/c/[^/\s]+/)", sent.body).group(1)
    assert client.get(link).status_code == 302
    assert Interaction.objects.filter(user=world.ann, kind="view", item__in=ann.items).count() == 1
    assert CampaignMessage.objects.get(pk=ann.pk).click_count == 1
    assert client.post(url + "send/").status_code == 409  # sent once
