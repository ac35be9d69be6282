"""Campaigns whose worker or task was lost (docs/recovery.md): the recovery sweep (`campaigns_recover_stuck`) and
the tasks' lease, against the real PostgreSQL and the real Redis broker (a re-enqueued campaign is proved by its
message in the default queue's list, removed again at the end of each test). No worker runs here: the generation
itself runs in the test's process; test_outreach_worker.py drives a real worker.

Coverage:
- `generating` taken by a task whose heartbeat expired -> one interruption, lease freed, the generation published
  again; a fresh one is left alone; past RECOVERY_MAX_ATTEMPTS it fails with the readable reason;
- never taken by a task (no heartbeat) past the grace period -> published again without counting, however often;
- `sending` whose heartbeat expired -> the messages its run had claimed without an outcome are failed, never sent
  again, the ready ones stay ready and the send is published again; past the limit the send ends `sent` with the
  unsent messages failed;
- the lease: a run whose campaign was taken over stops at its next batch and writes nothing more; the same
  delivery again (a redelivery) counts an interruption; generate and send start with a fresh count.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from apps.core.tests.broker import BULK_LIST, Published
from apps.outreach import services
from apps.outreach.models import Campaign, CampaignMessage
from apps.outreach.tests.factories import CampaignFactory, CampaignMessageFactory
from workers.tasks.maintenance import work_recover_stuck

pytestmark = pytest.mark.django_db

QUEUE = BULK_LIST  # training and campaigns run on the `bulk` queue


@pytest.fixture
def broker():
    """`published(task, campaign_id)`: the messages of `task` published for the campaign (removed afterwards)."""
    published = Published(QUEUE)
    yield lambda task, campaign_id: published.find(task, lambda message: message.args[1] == campaign_id)
    published.clear()


def _running(world, status: str, *, heartbeat_age: float | None, owner: str = "lost-run") -> Campaign:
    """A campaign `status`, taken by a task last seen `heartbeat_age` seconds ago (None: never taken, queued
    that long ago)."""
    campaign = CampaignFactory(organization=world.organization, status=status, members_total=3)
    then = timezone.now() - timedelta(seconds=heartbeat_age or 0)
    Campaign.objects.filter(pk=campaign.pk).update(
        heartbeat_at=then if heartbeat_age is not None else None,
        lease_owner=owner if heartbeat_age is not None else "",
        updated_at=then,
    )
    campaign.refresh_from_db()
    return campaign


def _sweep(capture):
    with capture(execute=True):
        return services.campaigns_recover_stuck()


def test_a_generation_whose_worker_was_lost_is_published_again(world, broker, django_capture_on_commit_callbacks):
    lost = _running(world, "generating", heartbeat_age=settings.RECOVERY_LEASE_SECONDS + 60)
    alive = _running(world, "generating", heartbeat_age=30)

    report = _sweep(django_capture_on_commit_callbacks)

    assert report == {"requeued": [lost.pk], "failed": []}
    lost.refresh_from_db()
    assert (lost.status, lost.interruptions, lost.lease_owner, lost.heartbeat_at) == ("generating", 1, "", None)
    assert len(broker("outreach.generate", lost.pk)) == 1
    alive.refresh_from_db()
    assert (alive.interruptions, alive.lease_owner) == (0, "lost-run")
    assert broker("outreach.generate", alive.pk) == []


def test_a_generation_never_taken_is_published_again_without_ever_failing(
    world, broker, django_capture_on_commit_callbacks, settings
):
    """Its publish was lost, or it waits behind a long queue: published again each grace period, never counted."""
    settings.RECOVERY_PENDING_GRACE_SECONDS = 60
    settings.RECOVERY_MAX_ATTEMPTS = 1
    waiting = _running(world, "generating", heartbeat_age=None)
    recent = CampaignFactory(organization=world.organization, status="generating")
    for _sweep_number in range(3):
        Campaign.objects.filter(pk=waiting.pk).update(updated_at=timezone.now() - timedelta(seconds=120))
        assert _sweep(django_capture_on_commit_callbacks) == {"requeued": [waiting.pk], "failed": []}
    waiting.refresh_from_db()
    assert (waiting.status, waiting.interruptions) == ("generating", 0)
    assert len(broker("outreach.generate", waiting.pk)) == 3
    assert broker("outreach.generate", recent.pk) == []


def test_a_generation_interrupted_too_often_fails_with_the_reason(world, broker, django_capture_on_commit_callbacks):
    lost = _running(world, "generating", heartbeat_age=settings.RECOVERY_LEASE_SECONDS + 60)
    Campaign.objects.filter(pk=lost.pk).update(interruptions=settings.RECOVERY_MAX_ATTEMPTS)

    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": [], "failed": [lost.pk]}

    lost.refresh_from_db()
    assert lost.status == "failed" and lost.lease_owner == ""
    assert lost.last_error.startswith(
        f"Generating the campaign's messages was interrupted {settings.RECOVERY_MAX_ATTEMPTS + 1} times"
    )
    assert lost.last_error.endswith("generate it again.")
    assert broker("outreach.generate", lost.pk) == []


def test_a_send_whose_worker_was_lost_fails_what_it_had_claimed_and_goes_on(
    world, broker, django_capture_on_commit_callbacks
):
    """Mail goes out at most once: messages the lost run had claimed (`sending`) have no recorded outcome and are
    failed with the reason; the ready ones stay ready for the run published again."""
    campaign = _running(world, "sending", heartbeat_age=settings.RECOVERY_LEASE_SECONDS + 60)
    claimed = CampaignMessageFactory(campaign=campaign, user=world.ann, status="sending")
    ready = CampaignMessageFactory(campaign=campaign, user=world.bob, status="ready")
    sent = CampaignMessageFactory(campaign=campaign, user=world.cy, status="sent")

    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": [campaign.pk], "failed": []}

    statuses = dict(CampaignMessage.objects.filter(campaign=campaign).values_list("pk", "status"))
    assert statuses == {claimed.pk: "failed", ready.pk: "ready", sent.pk: "sent"}
    claimed.refresh_from_db()
    assert claimed.error == services.INTERRUPTED_SEND_ERROR
    campaign.refresh_from_db()
    assert (campaign.status, campaign.failed_count, campaign.interruptions) == ("sending", 1, 1)
    assert len(broker("outreach.send", campaign.pk)) == 1

    # The run published again sends the ready message only (the locmem backend keeps what was sent).
    services.campaign_send(organization_id=world.organization.pk, campaign_id=campaign.pk, token="second-run")
    campaign.refresh_from_db()
    assert [message.to for message in mail.outbox] == [[world.bob.email]]
    assert (campaign.status, campaign.sent_count, campaign.failed_count, campaign.lease_owner) == ("sent", 1, 1, "")


def test_a_send_interrupted_too_often_ends_sent_with_the_unsent_messages_failed(
    world, broker, django_capture_on_commit_callbacks
):
    campaign = _running(world, "sending", heartbeat_age=settings.RECOVERY_LEASE_SECONDS + 60)
    Campaign.objects.filter(pk=campaign.pk).update(interruptions=settings.RECOVERY_MAX_ATTEMPTS)
    CampaignMessageFactory(campaign=campaign, user=world.ann, status="sending")
    CampaignMessageFactory(campaign=campaign, user=world.bob, status="ready")

    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": [], "failed": [campaign.pk]}

    campaign.refresh_from_db()
    assert (campaign.status, campaign.failed_count) == ("sent", 2) and campaign.sent_at is not None
    assert campaign.last_error.startswith("Sending the campaign was interrupted")
    errors = sorted(CampaignMessage.objects.filter(campaign=campaign).values_list("status", "error"))
    assert errors == [("failed", campaign.last_error), ("failed", services.INTERRUPTED_SEND_ERROR)]
    assert broker("outreach.send", campaign.pk) == []


def test_a_run_whose_campaign_was_taken_over_stops_and_writes_nothing_more(world, offline, monkeypatch, settings):
    """The sweep (or a newer delivery) took the campaign over while this run was writing a batch: the batch is not
    stored, and the run stops; the newer run does the whole generation."""
    settings.OUTREACH_BATCH_SIZE = 1
    campaign = CampaignFactory(organization=world.organization, status="generating", members_total=4)
    drafts = services._drafts
    calls = []

    def taken_over_during_the_first_batch(**kwargs):
        calls.append(kwargs["user_ids"])
        if len(calls) == 1:  # what the sweep does to a run it took for lost: the lease freed
            Campaign.objects.filter(pk=campaign.pk).update(lease_owner="", heartbeat_at=None)
        return drafts(**kwargs)

    monkeypatch.setattr(services, "_drafts", taken_over_during_the_first_batch)
    assert services.campaign_generate(organization_id=world.organization.pk, campaign_id=campaign.pk,
                                      token="older-run") is None  # fmt: skip

    assert len(calls) == 1 and not CampaignMessage.objects.filter(campaign=campaign).exists()
    campaign.refresh_from_db()
    assert (campaign.status, campaign.lease_owner, campaign.generated_count) == ("generating", "", 0)

    done = services.campaign_generate(organization_id=world.organization.pk, campaign_id=campaign.pk,
                                      token="newer-run")  # fmt: skip
    assert (done.status, done.lease_owner, done.interruptions) == ("ready", "", 0)
    assert done.generated_count + done.skipped_count == 4


def test_a_duplicate_leaves_a_campaign_a_live_run_holds(world, offline):
    """The sweep publishes a campaign no task took within the grace period again; if the first task then starts
    after all, the duplicate finds its lease fresh and returns, leaving its work alone."""
    campaign = _running(world, "generating", heartbeat_age=30, owner="first-run")

    assert services.campaign_generate(organization_id=world.organization.pk, campaign_id=campaign.pk,
                                      token="duplicate") is None  # fmt: skip
    campaign.refresh_from_db()
    assert (campaign.lease_owner, campaign.interruptions, campaign.status) == ("first-run", 0, "generating")
    assert not CampaignMessage.objects.filter(campaign=campaign).exists()


def test_a_send_the_sweep_took_for_lost_while_it_was_sending_counts_each_message_once(world, monkeypatch):
    """A send whose heartbeat went stale while the mail server held its batch (slow, not dead): the sweep marks that
    batch interrupted; the run then records what the mail server said, and each message is counted once."""
    campaign = CampaignFactory(organization=world.organization, status="sending")
    ann = CampaignMessageFactory(campaign=campaign, user=world.ann, status="ready")
    bob = CampaignMessageFactory(campaign=campaign, user=world.bob, status="ready")
    connect = services.get_connection

    def slow_mail_server():
        connection = connect()
        send = connection.send_messages

        def send_while_swept(messages):
            stale = timezone.now() - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS + 60)
            Campaign.objects.filter(pk=campaign.pk).update(heartbeat_at=stale)
            assert services.campaigns_recover_stuck()["requeued"] == [campaign.pk]
            assert CampaignMessage.objects.get(pk=ann.pk).error == services.INTERRUPTED_SEND_ERROR
            return send(messages)

        connection.send_messages = send_while_swept
        return connection

    monkeypatch.setattr(services, "get_connection", slow_mail_server)
    services.campaign_send(organization_id=world.organization.pk, campaign_id=campaign.pk, token="slow-run")

    rows = dict(CampaignMessage.objects.filter(campaign=campaign).values_list("pk", "status"))
    assert rows == {ann.pk: "sent", bob.pk: "sent"}
    assert set(CampaignMessage.objects.filter(campaign=campaign).values_list("error", flat=True)) == {""}
    campaign.refresh_from_db()
    assert (campaign.sent_count, campaign.failed_count) == (2, 0)
    # The lease passed to the sweep: the slow run stopped after its batch and left the campaign to the run queued.
    assert (campaign.status, campaign.lease_owner) == ("sending", "")
    assert len(mail.outbox) == 2


def test_a_redelivered_generation_counts_an_interruption_and_fails_past_the_limit(world, offline, settings):
    """The broker hands the same delivery again (its worker died): its token is still on the campaign."""
    settings.RECOVERY_MAX_ATTEMPTS = 1
    campaign = _running(world, "generating", heartbeat_age=5, owner="delivery-1")

    done = services.campaign_generate(organization_id=world.organization.pk, campaign_id=campaign.pk,
                                      token="delivery-1")  # fmt: skip
    assert (done.status, done.interruptions) == ("ready", 1)

    again = _running(world, "generating", heartbeat_age=5, owner="delivery-2")
    Campaign.objects.filter(pk=again.pk).update(interruptions=1)
    assert services.campaign_generate(organization_id=world.organization.pk, campaign_id=again.pk,
                                      token="delivery-2") is None  # fmt: skip
    again.refresh_from_db()
    assert (again.status, again.interruptions) == ("failed", 2) and "interrupted 2 times" in again.last_error


def test_generating_again_starts_a_fresh_count(world, django_capture_on_commit_callbacks):
    campaign = CampaignFactory(organization=world.organization, status="failed")
    Campaign.objects.filter(pk=campaign.pk).update(interruptions=3, lease_owner="old", heartbeat_at=timezone.now())
    campaign.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=False):
        services.campaign_generate_start(campaign=campaign)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.interruptions, campaign.lease_owner, campaign.heartbeat_at) == (
        "generating", 0, "", None,
    )  # fmt: skip


def test_the_recovery_beat_task_reports_campaigns(world, broker, django_capture_on_commit_callbacks):
    lost = _running(world, "generating", heartbeat_age=settings.RECOVERY_LEASE_SECONDS + 60)
    with django_capture_on_commit_callbacks(execute=True):
        report = work_recover_stuck()
    assert report["campaigns_requeued"] == [lost.pk] and report["campaigns_failed"] == []
    assert len(broker("outreach.generate", lost.pk)) == 1
