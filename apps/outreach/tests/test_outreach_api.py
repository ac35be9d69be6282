"""Outreach API and services (issue 19 items 2 and 4; docs/outreach.md). Real PostgreSQL, Redis and the real
recommendation service; the language model is faked only at its HTTP transport.

Coverage: campaign create (whole body) and bad input (400 naming the filter); trait filters only with the
organization's personality admin access (403 otherwise); segments by interests, progress, inactivity and
traits, opted-out members never included; the offline template composer (subject, text, HTML, tracked and
unsubscribe links, only candidates); the LLM composer with structured output, and its copy rejected (the
template writes, the reason recorded) when it invents an item, names a non-candidate catalog item, states
an invented price, or the call fails; preview 404 for another organization's user; the plan's monthly
limit (403 and plan_limit_reached); review edits (409 outside review); tracked clicks (redirect, click
counts, one `view` interaction) and forged tokens (404); the unsubscribe page (GET asks, POST opts out);
the member's opt-out API (own only, admins anyone's); a member who leaves loses their unsent messages;
access (members 403, other organizations 404); the message list's query count.
"""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from apps.conversations.tests.utils import status as llm_status
from apps.core.tests.events import events_sent
from apps.organizations import events as organization_events
from apps.organizations.tests.factories import MembershipFactory
from apps.outreach import selectors, services
from apps.outreach.models import Campaign, CampaignMessage, OutreachOptOut
from apps.outreach.tests.conftest import copy_reply
from apps.outreach.tests.factories import CampaignFactory, CampaignMessageFactory
from apps.personality.models import PersonalityProfile
from apps.progress.models import Interaction
from conftest import client_for

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://testserver(/outreach/c/[^/\s\"]+/)")
UNSUBSCRIBE = re.compile(r"http://testserver(/outreach/unsubscribe/[^/\s\"]+/)")


def campaigns_url(org) -> str:
    return reverse("outreach-api:list", kwargs={"org_slug": org.slug})


def campaign_url(campaign, name="detail", **kwargs) -> str:
    return reverse(
        f"outreach-api:{name}", kwargs={"org_slug": campaign.organization.slug, "campaign_id": campaign.pk, **kwargs}
    )


def segment(campaign) -> set[int]:
    return set(selectors.segment_members(campaign=campaign).values_list("user_id", flat=True))


# --------------------------------------------------------------------------- campaigns


def test_create_returns_the_whole_campaign(world):
    payload = {
        "name": "Come back", "goal": "resume_course", "tone": "formal", "sender_name": "Ada",
        "sender_email": "ada@example.com", "filters": {"interests": [" Python "], "progress": ["has_in_progress"]},
    }  # fmt: skip
    response = client_for(world.admin).post(campaigns_url(world.organization), payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    campaign = Campaign.objects.get()
    assert body == {
        "id": campaign.pk, "name": "Come back", "goal": "resume_course", "tone": "formal", "sender_name": "Ada",
        "sender_email": "ada@example.com", "filters": {"interests": ["python"], "progress": ["has_in_progress"]},
        "status": "draft", "members_total": 0, "generated_count": 0, "skipped_count": 0, "fallback_count": 0,
        "sent_count": 0, "opted_out_count": 0, "failed_count": 0, "last_error": "", "generation_started_at": None,
        "generated_at": None, "sent_at": None, "created_at": body["created_at"], "updated_at": body["updated_at"],
    }  # fmt: skip
    assert campaign.organization == world.organization and campaign.created_by == world.admin


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"filters": {"age": 3}}, "Unknown filter(s): age"),
        ({"filters": {"interest": ["python"]}}, "Unknown filter(s): interest"),
        ({"filters": {"progress": ["bored"]}}, "is not a valid choice"),
        ({"filters": {"inactive_days": "ten"}}, "inactive_days"),
        ({"filters": {"interests": "python"}}, "interests"),
        ({"filters": {"traits": {"charm": {"min": 0.5}}}}, "Unknown filter(s): charm"),
        ({"filters": {"traits": {"openness": {"min": 2}}}}, "less than or equal to 1"),
        ({"goal": "sell_everything"}, "is not a valid choice"),
        ({"sender_email": "not-an-address"}, "valid email"),
    ],
)
def test_bad_input_is_a_400_with_a_message(world, change, message):
    payload = {"name": "X", "sender_name": "Ada", "sender_email": "ada@example.com", **change}
    response = client_for(world.admin).post(campaigns_url(world.organization), payload, format="json")
    assert response.status_code == 400
    assert message in str(response.json()["error"])
    assert not Campaign.objects.exists()


def test_trait_filters_need_the_organizations_personality_admin_access(world):
    payload = {
        "name": "Curious", "sender_name": "Ada", "sender_email": "ada@example.com",
        "filters": {"traits": {"openness": {"min": 0.6}}},
    }  # fmt: skip
    client = client_for(world.admin)
    refused = client.post(campaigns_url(world.organization), payload, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "personality_admin_access_disabled"
    world.organization.personality_admin_access = True
    world.organization.save()
    allowed = client.post(campaigns_url(world.organization), payload, format="json")
    assert allowed.status_code == 201
    assert allowed.json()["filters"] == {"traits": {"openness": {"min": 0.6}}}


def test_segments_combine_interests_progress_inactivity_and_traits(world):
    organization = world.organization
    organization.personality_admin_access = True
    organization.save()
    everyone = {world.admin.pk, world.ann.pk, world.bob.pk, world.cy.pk}
    assert segment(CampaignFactory(organization=organization)) == everyone
    assert segment(CampaignFactory(organization=organization, filters={"interests": ["design"]})) == {world.bob.pk}
    assert segment(CampaignFactory(organization=organization, filters={"progress": ["has_in_progress"]})) == {
        world.ann.pk
    }
    never_done = CampaignFactory(organization=organization, filters={"progress": ["completed_none"]})
    assert segment(never_done) == {world.admin.pk, world.ann.pk, world.bob.pk}
    assert segment(CampaignFactory(organization=organization, filters={"inactive_days": 30})) == {
        world.admin.pk, world.bob.pk
    }  # fmt: skip
    PersonalityProfile.objects.create(
        organization=organization, user=world.bob, openness=0.8, openness_confidence=0.7, source="questionnaire",
        input_hash="a", computed_at="2026-01-01T00:00:00Z",
    )  # fmt: skip
    PersonalityProfile.objects.create(
        organization=organization, user=world.ann, openness=0.2, openness_confidence=0.7, source="questionnaire",
        input_hash="b", computed_at="2026-01-01T00:00:00Z",
    )  # fmt: skip
    curious = CampaignFactory(organization=organization, filters={"traits": {"openness": {"min": 0.6}}})
    assert segment(curious) == {world.bob.pk}
    services.optout_set(organization=organization, user_id=world.bob.pk, opted_out=True, source="api")
    assert segment(curious) == set()
    assert world.bob.pk not in segment(CampaignFactory(organization=organization))


def test_generation_refuses_trait_segments_once_admin_access_is_off(world):
    campaign = CampaignFactory(organization=world.organization, filters={"traits": {"openness": {"min": 0.6}}})
    response = client_for(world.admin).post(campaign_url(campaign, "generate"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "personality_admin_access_disabled"
    campaign.refresh_from_db()
    assert campaign.status == "draft"


# --------------------------------------------------------------------------- composers


def test_offline_preview_writes_template_copy_from_the_members_data(world, offline):
    campaign = CampaignFactory(organization=world.organization, goal="resume_course", tone="formal")
    response = client_for(world.admin).post(campaign_url(campaign, "preview"), {"user": world.ann.pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    message = body["message"]
    assert body["user"] == world.ann.pk and body["interests"] == ["python"]
    assert message["composer"] == "template" and message["composer_note"] == ""
    assert message["subject"] == "Ann, your next step in Python Foundations"
    assert message["items"][0] == world.python.pk
    assert set(message["items"]) == {candidate["id"] for candidate in body["candidates"]}
    assert set(message["items"]) <= {world.python.pk, world.advanced.pk, world.design.pk, world.other.pk}
    text, html = message["body_text"], message["body_html"]
    assert text.startswith("Dear Ann,\n\nYou are 50% through Python Foundations.")
    assert "Kind regards,\nAda from Beacon, Acme Academy" in text
    assert "Python Foundations" in html and "Dear Ann," in html
    assert len(LINK.findall(text)) == len(message["items"]) and len(LINK.findall(html)) == len(message["items"])
    assert UNSUBSCRIBE.search(text) and UNSUBSCRIBE.search(html)
    assert not CampaignMessage.objects.exists()  # a preview stores nothing


def test_interest_matches_come_first_with_their_reason(world, offline):
    campaign = CampaignFactory(organization=world.organization, goal="new_items")
    draft, member = services.campaign_preview(campaign=campaign, user_id=world.bob.pk)
    assert member["candidates"][0]["id"] == world.design.pk
    # The recommender's interests source (apps/recommendations/engine/interest_sources.py) gives the reason.
    assert member["candidates"][0]["reason"] == "Because you are interested in design"
    assert draft.subject.startswith("New for you: Design Systems Basics")
    assert "Picked for you because you are interested in design." in draft.body_text


def test_preview_of_another_organizations_user_is_404(world, other_organization, offline):
    campaign = CampaignFactory(organization=world.organization)
    stranger = MembershipFactory(organization=other_organization).user
    response = client_for(world.admin).post(campaign_url(campaign, "preview"), {"user": stranger.pk}, format="json")
    assert response.status_code == 404
    bad = client_for(world.admin).post(campaign_url(campaign, "preview"), {"user": "ann"}, format="json")
    assert bad.status_code == 400


def test_llm_copy_with_structured_output_is_used_when_it_passes_the_checks(world, llm):
    fake = llm(copy_reply([world.python.pk], intro="You are half way through Python Foundations."))
    campaign = CampaignFactory(organization=world.organization, goal="resume_course")
    draft, _ = services.campaign_preview(campaign=campaign, user_id=world.ann.pk)
    assert draft.composer == "llm" and draft.composer_note == ""
    assert draft.items == [world.python.pk]
    assert draft.subject == "Your next step"
    assert "You are half way through Python Foundations." in draft.body_text
    assert len(LINK.findall(draft.body_html)) == 1 and UNSUBSCRIBE.search(draft.body_html)
    request = fake.bodies[0]
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert world.ann.email not in json.dumps(request)  # the model gets the first name, never the address
    assert '"first_name": "Ann"' in request["messages"][1]["content"]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda w: copy_reply([999_999]), "item 999999 is not in the catalog"),
        (lambda w: copy_reply([w.other.pk + 1000]), "is not in the catalog"),
        (
            lambda w: copy_reply([w.python.pk], line="Then try Kubernetes In Production."),
            '"kubernetes in production", which is not one of',
        ),
        (lambda w: copy_reply([w.python.pk], line='Then try "Rust for Pythonistas".'), '"Rust for Pythonistas"'),
        (lambda w: copy_reply([w.python.pk], line="Only $19 this week!"), 'a price ("$19")'),
        (lambda w: copy_reply([w.python.pk], line="See https://evil.example"), "contains a link"),
        (lambda w: copy_reply([]), "no item is mentioned"),
        (lambda w: llm_status(500), "the language model failed: InternalServerError"),
    ],
)
def test_llm_copy_that_invents_is_rejected_and_the_template_writes(world, llm, settings, reply, reason):
    settings.OUTREACH_CANDIDATES = 1  # ann's only candidate: Python Foundations, which she is half way through
    llm(reply(world))
    campaign = CampaignFactory(organization=world.organization, goal="resume_course")
    draft, member = services.campaign_preview(campaign=campaign, user_id=world.ann.pk)
    assert draft.composer == "template"
    assert draft.composer_note.startswith("LLM copy rejected: ") and reason in draft.composer_note
    assert set(draft.items) == {candidate["id"] for candidate in member["candidates"]}
    assert "Rust" not in draft.body_text and "$19" not in draft.body_text


def test_llm_item_of_the_catalog_but_not_a_candidate_is_rejected(world, llm, settings):
    settings.OUTREACH_CANDIDATES = 1  # ann's candidate: only Python Foundations
    llm(copy_reply([world.other.pk]))
    campaign = CampaignFactory(organization=world.organization, goal="resume_course")
    draft, _ = services.campaign_preview(campaign=campaign, user_id=world.ann.pk)
    assert draft.composer == "template" and draft.items == [world.python.pk]
    assert f"item {world.other.pk} is not one of the member's candidates" in draft.composer_note


def test_llm_may_state_a_candidates_own_price(world, llm):
    llm(copy_reply([world.advanced.pk], line="Yours for $49."))
    campaign = CampaignFactory(organization=world.organization, goal="new_items")
    draft, member = services.campaign_preview(campaign=campaign, user_id=world.ann.pk)
    assert world.advanced.pk in {candidate["id"] for candidate in member["candidates"]}
    assert draft.composer == "llm" and "Yours for $49." in draft.body_text


# --------------------------------------------------------------------------- generation (service), limits, review


def test_plan_limit_refuses_generation_with_plan_limit_reached(world):
    plan = world.organization.plan
    plan.max_monthly_outreach_messages = 2
    plan.save()
    campaign = CampaignFactory(organization=world.organization)
    with events_sent(organization_events.plan_limit_reached) as sent:
        response = client_for(world.admin).post(campaign_url(campaign, "generate"))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "plan_limit_exceeded" and "outreach e-mails per month" in error["message"]
    assert [s.kwargs["limit"] for s in sent] == ["max_monthly_outreach_messages"]
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_a_campaign_being_generated_holds_its_places_in_the_plan(world):
    """A campaign still being generated (no message written yet) holds its segment's places: a second campaign
    generated meanwhile is refused when both would pass the plan's monthly limit (it counted only the messages
    already written, so both went through); the places are the written messages once it is done."""
    first = CampaignFactory(organization=world.organization)
    size = selectors.segment_members(campaign=first).count()
    plan = world.organization.plan
    plan.max_monthly_outreach_messages = size + 1
    plan.save()
    services.campaign_generate_start(campaign=first)  # its task is not run yet (enqueued on commit)
    assert selectors.messages_counted_this_month(organization=world.organization) == size
    second = CampaignFactory(organization=world.organization)
    response = client_for(world.admin).post(campaign_url(second, "generate"))
    assert response.status_code == 403, response.content
    assert response.json()["error"]["details"]["used"] == size
    services.campaign_generate(organization_id=world.organization.pk, campaign_id=first.pk)
    written = CampaignMessage.objects.filter(campaign=first).count()
    assert selectors.messages_counted_this_month(organization=world.organization) == written > 0
    assert client_for(world.admin).post(campaign_url(second, "generate")).status_code == 403
    second.refresh_from_db()
    assert second.status == "draft"


def test_empty_segment_and_busy_campaigns_are_refused(world):
    client = client_for(world.admin)
    empty = CampaignFactory(organization=world.organization, filters={"interests": ["knitting"]})
    response = client.post(campaign_url(empty, "generate"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "segment_empty"
    busy = CampaignFactory(organization=world.organization, status="sending")
    assert client.post(campaign_url(busy, "generate")).status_code == 409
    assert client.patch(campaign_url(busy), {"name": "Y"}, format="json").status_code == 409
    assert client.delete(campaign_url(busy)).status_code == 409
    assert client.post(campaign_url(empty, "send")).status_code == 409


def test_generate_enqueues_on_commit_and_the_service_writes_every_message(
    world, offline, django_capture_on_commit_callbacks
):
    services.optout_set(organization=world.organization, user_id=world.cy.pk, opted_out=True, source="api")
    campaign = CampaignFactory(organization=world.organization, goal="resume_course")
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(world.admin).post(campaign_url(campaign, "generate"))
    assert response.status_code == 202 and response.json()["status"] == "generating"
    assert response.json()["members_total"] == 3
    assert len(callbacks) == 1
    campaign = services.campaign_generate(organization_id=world.organization.pk, campaign_id=campaign.pk)
    assert campaign.status == "ready" and campaign.generated_count == 3 and campaign.skipped_count == 0
    messages = {m.user_id: m for m in CampaignMessage.objects.filter(campaign=campaign)}
    assert set(messages) == {world.admin.pk, world.ann.pk, world.bob.pk}  # cy opted out
    assert messages[world.ann.pk].items[0] == world.python.pk
    assert messages[world.ann.pk].email == world.ann.email
    # Idempotent: a second run upserts, it does not duplicate.
    Campaign.objects.filter(pk=campaign.pk).update(status="generating")
    services.campaign_generate(organization_id=world.organization.pk, campaign_id=campaign.pk)
    assert CampaignMessage.objects.filter(campaign=campaign).count() == 3


def test_review_lists_and_edits_messages(world, django_assert_max_num_queries):
    campaign = CampaignFactory(organization=world.organization, status="ready")
    for user in (world.ann, world.bob, world.cy):
        CampaignMessageFactory(campaign=campaign, user=user)
    client = client_for(world.admin)
    with django_assert_max_num_queries(8):
        listing = client.get(campaign_url(campaign, "messages"))
    assert listing.status_code == 200 and listing.json()["count"] == 3
    message = CampaignMessage.objects.get(user=world.ann)
    url = campaign_url(campaign, "message", campaign_message_id=message.pk)
    edited = client.patch(url, {"subject": "A better subject"}, format="json")
    assert edited.status_code == 200
    assert edited.json()["subject"] == "A better subject" and edited.json()["edited"] is True
    assert client.get(campaign_url(campaign, "messages") + "?status=bogus").status_code == 400
    assert client.patch(url, {"subject": ""}, format="json").status_code == 400
    Campaign.objects.filter(pk=campaign.pk).update(status="sent")
    assert client.patch(url, {"subject": "Too late"}, format="json").status_code == 409


# --------------------------------------------------------------------------- links


def test_a_tracked_click_redirects_and_records_a_view(world, api_client):
    campaign = CampaignFactory(organization=world.organization)
    message = CampaignMessageFactory(campaign=campaign, user=world.ann, items=[world.python.pk])
    url = services.click_url(campaign_id=campaign.pk, user_id=world.ann.pk, item_id=world.python.pk)
    path = url.removeprefix("http://testserver")
    for _ in range(2):
        response = api_client.get(path)
        assert response.status_code == 302 and response["Location"] == "https://learn.example/python"
    message.refresh_from_db()
    assert message.click_count == 2 and message.clicked_at is not None
    views = Interaction.objects.filter(organization=world.organization, user=world.ann, kind="view", item=world.python)
    assert views.count() == 1  # one view per message and item, however often it is clicked
    assert api_client.get(path[:-5] + "xxxx/").status_code == 404
    other = services.click_url(campaign_id=campaign.pk, user_id=world.ann.pk, item_id=world.other.pk)
    assert api_client.get(other.removeprefix("http://testserver")).status_code == 404  # not in the message


def test_the_unsubscribe_link_asks_on_get_and_opts_out_on_post(world, api_client):
    path = services.unsubscribe_url(organization_id=world.organization.pk, user_id=world.bob.pk).removeprefix(
        "http://testserver"
    )
    page = api_client.get(path)
    assert page.status_code == 200 and b"Stop receiving campaign e-mails from Acme Academy?" in page.content
    assert not OutreachOptOut.objects.exists()
    done = api_client.post(path)  # also RFC 8058 one-click (no CSRF token)
    assert done.status_code == 200 and b"You are unsubscribed" in done.content
    assert OutreachOptOut.objects.get().user == world.bob
    assert OutreachOptOut.objects.get().source == "link"
    assert api_client.post(path).status_code == 200  # twice is fine
    assert api_client.post("/outreach/unsubscribe/forged/").status_code == 404
    assert api_client.put(path).status_code == 405


def test_member_opt_out_api(world, other_organization):
    url = reverse("outreach-api:member", kwargs={"org_slug": world.organization.slug, "user_id": world.ann.pk})
    ann = client_for(world.ann)
    assert ann.get(url).json() == {"opted_out": False}
    assert ann.put(url, {"opted_out": True}, format="json").json() == {"opted_out": True}
    assert OutreachOptOut.objects.get(user=world.ann).source == "api"
    bob_url = reverse("outreach-api:member", kwargs={"org_slug": world.organization.slug, "user_id": world.bob.pk})
    assert ann.get(bob_url).status_code == 403
    admin = client_for(world.admin)
    assert admin.put(bob_url, {"opted_out": True}, format="json").status_code == 200
    assert OutreachOptOut.objects.get(user=world.bob).source == "admin"
    assert admin.put(url, {"opted_out": False}, format="json").json() == {"opted_out": False}
    assert admin.put(url, {"opted_out": "maybe"}, format="json").status_code == 400
    stranger = MembershipFactory(organization=other_organization).user
    stranger_url = reverse("outreach-api:member", kwargs={"org_slug": world.organization.slug, "user_id": stranger.pk})
    assert admin.get(stranger_url).status_code == 404


def test_a_member_who_leaves_loses_their_unsent_messages(world):
    campaign = CampaignFactory(organization=world.organization, status="ready")
    CampaignMessageFactory(campaign=campaign, user=world.ann)
    CampaignMessageFactory(campaign=campaign, user=world.bob, status="sent")
    CampaignMessageFactory(campaign=campaign, user=world.cy)
    world.ann.memberships.get(organization=world.organization).delete()
    organization_events.members_changed_send(organization_id=world.organization.pk, user_ids=[world.ann.pk])
    assert set(CampaignMessage.objects.values_list("user_id", flat=True)) == {world.bob.pk, world.cy.pk}
    world.cy.delete()  # deleting the account deletes its messages and opt-outs
    assert set(CampaignMessage.objects.values_list("user_id", flat=True)) == {world.bob.pk}


def test_members_cannot_manage_campaigns_and_other_organizations_get_404(world, other_organization):
    campaign = CampaignFactory(organization=world.organization)
    assert client_for(world.ann).get(campaigns_url(world.organization)).status_code == 403
    assert client_for(world.ann).get(campaign_url(campaign)).status_code == 403
    outsider = other_organization.memberships.get().user
    assert client_for(outsider).get(campaign_url(campaign)).status_code == 404
    theirs = CampaignFactory(organization=other_organization)
    url = reverse("outreach-api:detail", kwargs={"org_slug": world.organization.slug, "campaign_id": theirs.pk})
    assert client_for(world.admin).get(url).status_code == 404
    listing = client_for(world.admin).get(campaigns_url(world.organization)).json()
    assert [row["id"] for row in listing["results"]] == [campaign.pk]


def test_the_senders_name_stays_on_one_line(world):
    """A name with a newline cannot add a header to the From line (issue 19)."""
    campaign = services.campaign_create(
        organization=world.organization, created_by=None, name="X", sender_name="Ada\nBcc: eve@evil.test",
        sender_email="ada@example.com",
    )  # fmt: skip
    assert campaign.sender_name == "Ada Bcc: eve@evil.test"
    campaign = services.campaign_update(campaign=campaign, sender_name="  Ada \r\n Lovelace ")
    assert campaign.sender_name == "Ada Lovelace"


def test_outreach_tasks_run_on_the_bulk_queue():
    """Generation and sending are long: they never hold the single child of the `celery` queue, which the
    5-second graph drain and the recovery sweep need, nor the `ingestion` children uploads wait for."""
    from config.celery_app import app

    for name in ("outreach.generate", "outreach.send"):
        route = app.amqp.router.route({}, name)
        assert route["queue"].name == "bulk", name


def test_generation_enqueues_no_graph_refresh_per_member(world, offline, django_capture_on_commit_callbacks):
    """A generation ranks every member of the segment: it must not publish one `recommendations.graph_refresh`
    per member (a 10,000-member campaign queued 8,400 of them on `celery`, ahead of the graph drain). The same
    member served through the API does enqueue theirs."""
    from apps.recommendations.engine.ranking import RankRequest
    from apps.recommendations.services import recommendations_serve

    campaign = CampaignFactory(organization=world.organization, goal="new_items")
    client_for(world.admin).post(campaign_url(campaign, "generate"))
    with django_capture_on_commit_callbacks() as callbacks:
        campaign = services.campaign_generate(organization_id=world.organization.pk, campaign_id=campaign.pk)
    assert campaign.status == "ready" and campaign.generated_count == 4
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks:
        recommendations_serve(
            organization=world.organization, user_id=world.ann.pk, request=RankRequest(size=4), offset=0, limit=4
        )
    assert len(callbacks) == 1  # the interactive path still refreshes the member's graph rows
