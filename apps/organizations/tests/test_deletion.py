"""Deleting an organization (docs/api.md#deleting-an-organization): an owner's request hides it at once (API, API keys,
widget, lists, its slug free again) and publishes its purge; the purge deletes every row of it and nothing of any
other organization, a batch per transaction, the organization row last; a row in use makes it end busy, rolled back
whole; a purge that spends its budget publishes its rest; the recovery sweep publishes again a lost one; a real worker
does it end to end."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.apps import apps
from django.db.models import ForeignKey
from django.utils import timezone
from rest_framework.test import APIClient

from apps.boards.models import Goal
from apps.bots.models import Bot
from apps.bots.tests.factories import BotFactory
from apps.bots.tests.test_deletion import document_held
from apps.conversations.models import Conversation
from apps.core.graph import graph_query
from apps.core.purge import PURGE_BUSY, PURGE_DONE, PURGE_MORE
from apps.core.tests.broker import BULK_LIST, Published
from apps.core.tests.waiting import until
from apps.documents.models import ChunkEmbedding, Document, LexemeStat
from apps.graph.projection import organization_subgraph_delete
from apps.graph.sync import graph_outbox_users, graph_sync_drain
from apps.organizations.models import ApiKey, Membership, Organization, Role
from apps.organizations.services import organization_delete, organization_purge
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory, api_key_for
from apps.organizations.tests.rows import organization_rows
from apps.outreach.models import Campaign
from apps.outreach.tests.factories import CampaignFactory
from apps.progress.models import ContentItem, Interaction
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory
from apps.recommendations.engine import cache as rec_cache
from apps.users.models import User
from apps.webhooks.models import WebhookAttempt
from conftest import client_for
from workers.tasks.maintenance import work_recover_stuck
from workers.tasks.organizations import organization_purge_task


def delete_url(organization) -> str:
    return f"/api/v1/orgs/{organization.slug}/"


def _organization_models() -> list:
    """Every model with a foreign key to Organization: the tables a purge must empty of it."""
    return [
        model
        for model in apps.get_models()
        if any(
            isinstance(field, ForeignKey) and field.related_model is Organization
            for field in model._meta.concrete_fields
        )
    ]


def _counts(organization_id: int) -> dict:
    counts = {}
    for model in _organization_models():
        field = next(
            f for f in model._meta.concrete_fields if isinstance(f, ForeignKey) and f.related_model is Organization
        )
        counts[model._meta.label] = model._base_manager.filter(**{field.attname: organization_id}).count()
    return counts


def _purges(published: Published, *organizations) -> list[int]:
    ids = {organization.pk for organization in organizations}
    return [m.args[0] for m in published.find("organizations.purge", lambda m: m.args[0] in ids)]


def _nodes(organization_id: int) -> int:
    return graph_query("MATCH (n {organization_id: $org}) RETURN count(n) AS n", {"org": organization_id})[0]["n"]


# --------------------------------------------------------------------------- the request


@pytest.mark.django_db
def test_an_owner_deletes_an_organization_and_it_is_gone_at_once(
    organization, owner, admin_user, other_organization, django_capture_on_commit_callbacks
):
    """204; from then on the organization is 404 to its members, out of their lists, its API keys and its widget
    are refused, its slug is free for a new organization; the purge is published; another organization is untouched."""
    bot = Bot.objects.create(organization=organization, name="Help")
    _key, secret = api_key_for(organization)
    other_bot = Bot.objects.create(organization=other_organization, name="Other")
    slug = organization.slug
    published = Published(BULK_LIST)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).delete(delete_url(organization), {"confirm": slug}, format="json")

    assert response.status_code == 204, response.content
    assert _purges(published, organization) == [organization.pk]
    published.clear()
    for user in (owner, admin_user):
        assert client_for(user).get(f"/api/v1/orgs/{slug}/").status_code == 404
        assert client_for(user).get(f"/api/v1/orgs/{slug}/bots/{bot.pk}/").status_code == 404
        assert slug not in [row["slug"] for row in client_for(user).get("/api/v1/orgs/").json()["results"]]
    keyed = APIClient(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    assert keyed.get(f"/api/v1/orgs/{slug}/bots/").status_code in (401, 403)
    assert APIClient().get(f"/widget/{bot.public_id}/frame/").status_code == 404
    assert not ApiKey.objects.filter(organization_id=organization.pk).exists()
    assert not Bot.objects.filter(pk=bot.pk).exists() and Bot.all_objects.filter(pk=bot.pk).exists()
    hidden = Organization.all_objects.get(pk=organization.pk)
    assert hidden.deleted_at is not None and hidden.slug != slug
    # The slug is free again.
    created = client_for(owner).post("/api/v1/orgs/", {"name": "Again", "slug": slug}, format="json")
    assert created.status_code == 201, created.content
    # Another organization is untouched.
    assert (
        client_for(other_organization.memberships.first().user)
        .get(f"/api/v1/orgs/{other_organization.slug}/bots/{other_bot.pk}/")
        .status_code
        == 200
    )


@pytest.mark.django_db
def test_who_may_delete_and_the_confirmation(organization, owner, admin_user, member, other_organization):
    """Only an owner, signed in, with the slug repeated: an admin and a member get 403, an API key 403 (even with
    write), another organization's owner 404; no or a wrong confirmation is a 400 naming `confirm`. Nothing changes."""
    other_owner = other_organization.memberships.get(role=Role.OWNER).user
    _key, secret = api_key_for(organization)
    body = {"confirm": organization.slug}
    assert client_for(admin_user).delete(delete_url(organization), body, format="json").status_code == 403
    assert client_for(member).delete(delete_url(organization), body, format="json").status_code == 403
    keyed = APIClient(HTTP_AUTHORIZATION=f"Api-Key {secret}").delete(delete_url(organization), body, format="json")
    assert keyed.status_code == 403, keyed.content
    assert client_for(other_owner).delete(delete_url(organization), body, format="json").status_code == 404
    for wrong in ({}, {"confirm": "acme"}, {"confirm": organization.slug.upper()}):
        response = client_for(owner).delete(delete_url(organization), wrong, format="json")
        assert response.status_code == 400, response.content
        assert "confirm" in response.json()["error"]["details"], response.json()
    assert client_for(owner).delete(delete_url(organization), [1], format="json").status_code == 400

    assert Organization.objects.filter(pk=organization.pk, slug=organization.slug).exists()
    assert ApiKey.objects.filter(organization=organization).exists()
    # The query parameter is the other way to confirm.
    response = client_for(owner).delete(f"{delete_url(organization)}?confirm={organization.slug}")
    assert response.status_code == 204, response.content


@pytest.mark.django_db
def test_deleting_stops_the_campaigns_under_way(organization, owner):
    """A campaign generating or sending fails at once (its run stops at its next batch); a finished one is left for
    the purge."""
    sending = CampaignFactory(organization=organization, status=Campaign.Status.SENDING)
    sent = CampaignFactory(organization=organization, status=Campaign.Status.SENT)

    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)

    assert Campaign.objects.get(pk=sending.pk).status == Campaign.Status.FAILED
    assert Campaign.objects.get(pk=sent.pk).status == Campaign.Status.SENT


# --------------------------------------------------------------------------- the purge


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_purge_deletes_every_row_of_the_organization_and_nothing_else(owner, organization, other_organization):
    """Every table that references an organization (found from the models, so a new one is checked too) holds a row
    of it before and none after; the rows without an organization column of their own go too (vectors, term
    statistics, webhook attempts, a goal's items); the stored files, the graph's nodes and the cached lists go; a
    member's own account stays, one a member sync made is anonymised; the other organization keeps everything."""
    rows = organization_rows(organization)
    kept = organization_rows(other_organization)
    managed = rows["member"]
    managed.set_unusable_password()
    managed.save()
    for organization_id in (organization.pk, other_organization.pk):
        organization_subgraph_delete(organization_id)  # the graph is shared by every test database
    before, other_before = _counts(organization.pk), _counts(other_organization.pk)
    assert 0 not in before.values(), [label for label, count in before.items() if not count]
    graph_sync_drain()  # nodes in the graph; then an outbox row not drained yet
    graph_outbox_users(organization_id=organization.pk, user_ids=[owner.pk])
    other_before["graph.GraphOutbox"] = 0
    rec_cache.cache_clear(organization_id=organization.pk)  # a version key in Redis
    assert _nodes(organization.pk) > 0
    bot_id = rows["bot"].pk

    published = Published(BULK_LIST)
    try:
        organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)
        assert _purges(published, organization) == [organization.pk]  # published on commit; taken off the broker
        published.clear()
        assert organization_purge(organization_id=organization.pk) == PURGE_DONE

        assert set(_counts(organization.pk).values()) == {0}, _counts(organization.pk)
        assert not Organization.all_objects.filter(pk=organization.pk).exists()
        assert not ChunkEmbedding.objects.filter(chunk__bot_id=bot_id).exists()
        assert not LexemeStat.objects.filter(bot_id=bot_id).exists()
        assert not WebhookAttempt.objects.filter(pk=rows["attempt"]).exists()
        assert not Goal.target_items.through.objects.filter(pk__in=rows["goal_items"]).exists()
        assert not any(os.path.exists(path) for path in rows["files"])
        assert _nodes(organization.pk) == 0
        assert rec_cache.organization_version(organization_id=organization.pk) == 0
        assert User.objects.filter(pk=owner.pk, email=owner.email, is_active=True).exists()
        anonymised = User.objects.get(pk=managed.pk)
        # A random part: an address someone registered beforehand cannot make the anonymisation fail.
        assert anonymised.email.startswith(f"erased-{managed.pk}-") and anonymised.email.endswith("@erased.invalid")
        assert not anonymised.is_active
        # The other organization keeps everything.
        assert _counts(other_organization.pk) == other_before
        assert all(os.path.exists(path) for path in kept["files"])
        assert WebhookAttempt.objects.filter(pk=kept["attempt"]).exists()
        assert _nodes(other_organization.pk) > 0
    finally:
        for organization_id in (organization.pk, other_organization.pk):
            organization_subgraph_delete(organization_id)


@pytest.mark.django_db
def test_the_purge_goes_a_batch_per_transaction(owner, organization, settings):
    """With batches of 2 rows, a purge of 5 interactions over a course of 3 items takes several rounds (each table's
    rows before the rows they reference; a course in another batch than its lessons) and ends with the organization
    row; the task's budget spent after each round, it says PURGE_MORE until then."""
    settings.ORGANIZATION_PURGE_BATCH_ROWS = 2
    course = ContentItemFactory(organization=organization)
    lessons = [ContentItemFactory(organization=organization, parent=course) for _ in range(2)]
    for index in range(5):
        InteractionFactory(organization=organization, item=lessons[index % 2])
    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)

    outcomes = []
    while not outcomes or outcomes[-1] != PURGE_DONE:
        outcomes.append(organization_purge(organization_id=organization.pk, budget_seconds=0))
        assert len(outcomes) < 50, outcomes

    assert outcomes[:3] == [PURGE_MORE] * 3  # 2 + 2 + 1 interactions (and the memberships beside them)
    assert not Interaction.objects.filter(organization_id=organization.pk).exists()
    assert not ContentItem.objects.filter(organization_id=organization.pk).exists()
    assert not Membership.objects.filter(organization_id=organization.pk).exists()
    assert not Organization.all_objects.filter(pk=organization.pk).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_row_in_use_makes_the_purge_end_busy_and_roll_back_whole(owner, organization):
    """A document another connection holds (a pipeline stage) is skipped by the batches and keeps its bot, so the
    last transaction finds a row of the organization left: PURGE_BUSY, the organization row still there, nothing of
    that transaction done. Once the row is free, the purge finishes."""
    from apps.bots.tests.deletion import bot_with_rows

    bot, document = bot_with_rows(organization)
    published = Published(BULK_LIST)
    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)
    assert _purges(published, organization) == [organization.pk]  # published on commit; taken off the broker
    published.clear()

    with document_held(document.pk):
        assert organization_purge(organization_id=organization.pk) == PURGE_BUSY
    assert Organization.all_objects.filter(pk=organization.pk).exists()
    assert Document.objects.filter(pk=document.pk).exists()
    assert not Conversation.objects.filter(bot_id=bot.pk).exists()  # the batches did their part

    assert organization_purge(organization_id=organization.pk) == PURGE_DONE
    assert not Organization.all_objects.filter(pk=organization.pk).exists()
    assert not Bot.all_objects.filter(pk=bot.pk).exists()


@pytest.mark.django_db
def test_the_task_publishes_its_rest_and_the_sweep_a_lost_purge(
    owner, organization, settings, django_capture_on_commit_callbacks
):
    """A task whose budget is spent publishes itself again at once (noting when: the sweep's lease); a purge quiet
    for longer than RECOVERY_LEASE_SECONDS is published again by the recovery sweep, once."""
    settings.ORGANIZATION_PURGE_BATCH_ROWS = 1
    settings.ORGANIZATION_PURGE_BUDGET_SECONDS = 0
    lost = OrganizationFactory()
    MembershipFactory(organization=lost, role=Role.OWNER)
    MembershipFactory(organization=organization, role=Role.MEMBER)
    for org in (organization, lost):
        organization_delete(organization=org, actor=org.memberships.filter(role=Role.OWNER).first(), confirm=org.slug)
    long_ago = timezone.now() - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS + 60)
    Organization.all_objects.filter(pk=lost.pk).update(purge_published_at=long_ago)
    published = Published(BULK_LIST)

    with django_capture_on_commit_callbacks(execute=True):
        assert organization_purge_task.apply(args=[organization.pk]).get() == PURGE_MORE
        first = work_recover_stuck.apply().get()
        second = work_recover_stuck.apply().get()

    assert (first["organization_purges_requeued"], second["organization_purges_requeued"]) == (1, 0)
    assert sorted(_purges(published, organization, lost)) == sorted([organization.pk, lost.pk])
    published.clear()
    assert Organization.all_objects.get(pk=lost.pk).purge_published_at > long_ago
    assert Organization.all_objects.get(pk=organization.pk).purge_published_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_purges_a_deleted_organization(celery_worker, owner, organization, other_organization):
    """Through the API and a real worker: the organization's bot, catalog and members' data go and the organization
    row last; another organization's stay."""
    from apps.bots.tests.deletion import bot_with_rows

    bot_with_rows(organization)
    item = ContentItemFactory(organization=organization)
    InteractionFactory(organization=organization, item=item)
    kept = ContentItemFactory(organization=other_organization)
    organization_subgraph_delete(organization.pk)

    response = client_for(owner).delete(delete_url(organization), {"confirm": organization.slug}, format="json")

    assert response.status_code == 204
    # The purge runs in the worker's thread; this waits for the organization row, which goes last.
    until(lambda: not Organization.all_objects.filter(pk=organization.pk).exists(), "the worker's purge")
    assert set(_counts(organization.pk).values()) == {0}
    assert ContentItem.objects.filter(pk=kept.pk).exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("held", ["bot", "api key"])
def test_a_request_holding_a_row_of_the_organization_does_not_deadlock_with_its_delete(held, owner, organization):
    """A request holding a row that points to the organization (a bot it edits, the API key it came with) and then
    writing a row that references the organization (which takes a key-share lock on the organization row) finishes,
    and so does the delete: the delete writes the rows that point to the organization before its own row (whose new
    slug, a unique key, takes a full lock), so it only waits for the request. In the other order each waited for the
    other and PostgreSQL cancelled one of them (DeadlockDetected)."""
    from django.db import transaction

    from apps.core.tests.concurrency import in_another_connection, wait_until_a_lock_is_awaited
    from apps.organizations.services import organization_mark_deleted

    bot = BotFactory(organization=organization)
    key, _secret = api_key_for(organization)
    published = Published(BULK_LIST)
    result: dict = {}
    deleting = in_another_connection(
        result, lambda: organization_mark_deleted(organization=Organization.objects.get(pk=organization.pk))
    )
    with transaction.atomic():
        if held == "bot":
            Bot.objects.filter(pk=bot.pk).update(name="Renamed")  # as PATCH bots/{id}/ does
        else:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
        deleting.start()
        wait_until_a_lock_is_awaited(result)  # the delete waits for the row this request holds
        item = ContentItemFactory(organization=organization)  # a key-share lock on the organization row
    deleting.join(timeout=60)  # a hang guard only: the delete goes on as soon as the request commits

    assert "error" not in result, result.get("error")
    assert Organization.all_objects.get(pk=organization.pk).deleted_at is not None
    assert ContentItem.objects.filter(pk=item.pk).exists()  # the request's write stands; the purge takes it
    assert _purges(published, organization) == [organization.pk]
    published.clear()


@pytest.mark.django_db
def test_a_deleted_organization_is_not_trained(owner, organization, other_organization):
    """The stale-model sweep leaves out an organization being deleted, and a training published before the delete
    returns without a model (it would only write rows for the purge to delete)."""
    from apps.recommendations.models import RecommenderModel
    from apps.recommendations.services import recommender_train, recommender_train_stale

    for org in (organization, other_organization):
        InteractionFactory(organization=org, item=ContentItemFactory(organization=org))
    assert set(recommender_train_stale()) >= {organization.pk, other_organization.pk}

    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)

    stale = recommender_train_stale()
    assert organization.pk not in stale and other_organization.pk in stale
    assert recommender_train(organization_id=organization.pk) is None
    assert not RecommenderModel.objects.filter(organization_id=organization.pk).exists()


@pytest.mark.django_db
def test_a_bot_made_while_the_organization_was_deleted_is_purged_too(owner, organization):
    """A bot a request inserted after the delete had hidden the others (it was past its lookups, or an API key another
    process had read for API_KEY_CACHE_SECONDS) is hidden by the purge's first round and purged with the rest; a bot
    created through the service once the organization is deleted is refused (404)."""
    from rest_framework.exceptions import NotFound

    from apps.bots.services import bot_create

    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)
    late = Bot.all_objects.create(organization=organization, name="Late")

    assert organization_purge(organization_id=organization.pk) == PURGE_DONE
    assert not Bot.all_objects.filter(pk=late.pk).exists()
    with pytest.raises(NotFound):
        bot_create(organization=organization, data={"name": "After"})


@pytest.mark.django_db
def test_what_comes_after_the_delete_finds_nothing_to_act_on(owner, organization, admin_user, settings):
    """An erasure's second pass due after the delete does nothing (the purge takes everything); an e-mailed click
    link is void (404, no interaction recorded), an unsubscribe link finds no member (the organization's name is not
    shown, no opt-out written), a shared board link no board."""
    from apps.boards.models import VisionBoard
    from apps.boards.selectors import board_shared_get
    from apps.organizations.services import member_erase_settle
    from apps.outreach import services as outreach
    from apps.outreach.models import CampaignMessage
    from apps.outreach.tests.factories import CampaignMessageFactory

    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    item = ContentItemFactory(organization=organization, url="https://example.com/x")
    campaign = CampaignFactory(organization=organization, status=Campaign.Status.SENT)
    CampaignMessageFactory(campaign=campaign, user=member, status=CampaignMessage.Status.SENT)
    board = VisionBoard.objects.create(organization=organization, user=member, version=1, inputs_hash="h", svg="<s/>",
                                       width=1, height=1, captions="template", share_key="k" * 22)  # fmt: skip
    click = outreach.click_url(campaign_id=campaign.pk, user_id=member.pk, item_id=item.pk)
    unsubscribe = outreach.unsubscribe_url(organization_id=organization.pk, user_id=member.pk)
    assert board_shared_get(board_id=board.pk, share_key=board.share_key) == board

    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)

    assert member_erase_settle(organization_id=organization.pk, user_id=admin_user.pk) is False
    assert APIClient().get(click.removeprefix(settings.BEACON_PUBLIC_URL)).status_code == 404
    assert not Interaction.objects.filter(organization_id=organization.pk).exists()
    page = APIClient().get(unsubscribe.removeprefix(settings.BEACON_PUBLIC_URL))  # "no longer a member", no name
    assert page.status_code == 200 and organization.name not in page.content.decode()
    assert board_shared_get(board_id=board.pk, share_key=board.share_key) is None


@pytest.mark.django_db
def test_what_arrives_during_the_purge_goes_with_it(owner, organization, monkeypatch):
    """A membership that arrives after the first stage (a member sync through an API key another process read before
    the delete) goes with the organization row, its managed account anonymised like the others; an invitation made
    after the delete cannot be previewed, accepted or mailed, and goes with the rounds."""
    from apps.core.exceptions import ApplicationError
    from apps.organizations import services
    from apps.organizations.models import Invitation
    from apps.organizations.services import invitation_get_by_token, invitation_token
    from apps.users.tests.factories import UserFactory

    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)
    expires = timezone.now() + timedelta(days=1)
    invitation = Invitation.objects.create(organization=organization, email="late@example.com", token_hash="late",
                                           expires_at=expires)  # fmt: skip
    token = invitation_token(invitation=invitation)
    Invitation.objects.filter(pk=invitation.pk).update(token_hash=services.hash_secret(token))
    with pytest.raises(ApplicationError) as refused:
        invitation_get_by_token(token=token)
    assert refused.value.get_codes() == "invitation_invalid"
    response = APIClient().post("/api/v1/invitations/accept/", {"token": token, "password": "x" * 16}, format="json")
    assert response.status_code == 404 and not User.objects.filter(email="late@example.com").exists()
    assert services.invitations_mail_send(organization_id=organization.pk, invitation_ids=[invitation.pk])[0] == 0

    late = UserFactory()
    late.set_unusable_password()
    late.save()
    original, arrived = services.organization_purging_send, []

    def purging(*, organization_id, last):
        if last and not arrived:
            arrived.append(Membership.objects.create(organization_id=organization_id, user=late, role=Role.MEMBER))
        return original(organization_id=organization_id, last=last)

    monkeypatch.setattr(services, "organization_purging_send", purging)
    assert organization_purge(organization_id=organization.pk) == PURGE_DONE

    assert arrived and not Membership.objects.filter(pk=arrived[0].pk).exists()
    anonymised = User.objects.get(pk=late.pk)
    assert anonymised.email.endswith("@erased.invalid") and not anonymised.is_active
    assert not Invitation.objects.filter(pk=invitation.pk).exists()


@pytest.mark.django_db
def test_links_from_another_organization_to_its_items_do_not_stop_the_purge(owner, organization, other_organization):
    """The admin's raw id fields accept another organization's item as a goal's target or a prerequisite: those links
    go with the purge (the catalog's DELETE would fail on them at every commit); the other organization's goal and
    items stay."""
    from apps.boards.tests.factories import GoalFactory
    from apps.progress.models import ContentPrerequisite

    item = ContentItemFactory(organization=organization)
    theirs = ContentItemFactory(organization=other_organization)
    goal = GoalFactory(organization=other_organization)
    goal.target_items.add(item, theirs)
    ContentPrerequisite.objects.create(organization=other_organization, item=theirs, prerequisite=item)

    organization_delete(organization=organization, actor=owner.memberships.get(), confirm=organization.slug)
    assert organization_purge(organization_id=organization.pk) == PURGE_DONE

    assert list(Goal.objects.get(pk=goal.pk).target_items.all()) == [theirs]
    assert not ContentPrerequisite.objects.filter(item=theirs).exists()
    assert ContentItem.objects.filter(pk=theirs.pk).exists()
