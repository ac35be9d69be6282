"""A training whose worker died is never left `training` (issue 12, point 7; docs/recovery.md).

A run holds its organization's PostgreSQL advisory lock for its whole length, so a `training` row
whose lock is free lost its worker. Real PostgreSQL and the real Redis broker (a queued training is
proved by its message in the "bulk" queue, removed at the end).

Coverage:
- the sweep closes a dead run `failed` with a readable error, counts the interruption and queues a
  new training carrying the count; a run whose lock is held (alive) is left alone;
- past RECOVERY_MAX_ATTEMPTS the sweep closes the run and queues nothing;
- a redelivered training (same delivery token on the dead row) counts the interruption into its new
  version, and gives up (no new version) past the limit; a new delivery starts a fresh count.
"""

import pytest
from django.db import connections

from apps.core.tests.broker import BULK_LIST, Published
from apps.recommendations.models import RecommenderModel
from apps.recommendations.services import _lock_key, recommender_train, recommender_trainings_recover_stuck

pytestmark = pytest.mark.django_db

QUEUE = BULK_LIST  # training and campaigns run on the `bulk` queue


@pytest.fixture
def queued_trainings():
    """The keyword arguments of the trainings published for an organization (removed again afterwards)."""
    published = Published(QUEUE)

    def queued(organization_id: int) -> list[dict]:
        found = published.find(
            "recommendations.train", lambda message: message.kwargs.get("organization_id") == organization_id
        )
        return [message.kwargs for message in found]

    yield queued
    published.clear()


def _training_row(organization, **fields) -> RecommenderModel:
    return RecommenderModel.objects.create(organization=organization, version=fields.pop("version", 1), **fields)


def test_sweep_closes_a_dead_training_and_queues_a_new_one(organization, queued_trainings):
    dead = _training_row(organization, lease_owner="chain/task/0")

    report = recommender_trainings_recover_stuck()

    assert report == {"requeued": [organization.pk], "failed": []}
    dead.refresh_from_db()
    assert dead.status == RecommenderModel.Status.FAILED and dead.interruptions == 1
    assert dead.error.startswith("Training of version 1 was interrupted once (the worker stopped or its task was lost;")
    assert dead.error.endswith("a new training was queued.")
    assert queued_trainings(organization.pk) == [{"organization_id": organization.pk, "interruptions": 1}]


def test_sweep_leaves_a_live_training_alone(organization, queued_trainings):
    alive = _training_row(organization)
    holder = connections.create_connection("default")
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_lock_key(organization.pk)])
            assert cursor.fetchone()[0]
        assert recommender_trainings_recover_stuck() == {"requeued": [], "failed": []}
    finally:
        holder.close()
    alive.refresh_from_db()
    assert alive.status == RecommenderModel.Status.TRAINING and alive.interruptions == 0
    assert queued_trainings(organization.pk) == []


def test_sweep_gives_up_past_the_attempt_limit(organization, queued_trainings, settings):
    settings.RECOVERY_MAX_ATTEMPTS = 3
    dead = _training_row(organization, interruptions=3)

    assert recommender_trainings_recover_stuck() == {"requeued": [], "failed": [organization.pk]}

    dead.refresh_from_db()
    assert dead.status == RecommenderModel.Status.FAILED and dead.interruptions == 4
    assert "was interrupted 4 times" in dead.error
    assert dead.error.endswith("the next scheduled training tries again.")
    assert queued_trainings(organization.pk) == []


def test_a_redelivered_training_counts_the_interruption_and_gives_up_past_the_limit(organization, settings):
    settings.RECOVERY_MAX_ATTEMPTS = 1
    token = "chain/train-task/0"
    dead = _training_row(organization, lease_owner=token)

    resumed = recommender_train(organization_id=organization.pk, token=token)

    assert resumed is not None and resumed.status == RecommenderModel.Status.READY
    assert resumed.version == 2 and resumed.interruptions == 1 and resumed.lease_owner == ""
    assert not RecommenderModel.objects.filter(pk=dead.pk).exists()  # replaced by the ready version

    # The same delivery dies again: past the limit, no new version.
    again = _training_row(organization, version=3, lease_owner=token, interruptions=1)
    assert recommender_train(organization_id=organization.pk, token=token) is None
    again.refresh_from_db()
    assert again.status == RecommenderModel.Status.FAILED and again.interruptions == 2
    assert list(RecommenderModel.objects.filter(organization=organization).values_list("version", flat=True)) == [
        3,
        2,
    ]

    # The next scheduled training is another delivery: a fresh count, and it trains.
    fresh = recommender_train(organization_id=organization.pk, token="beat/train-task/0")
    assert fresh.status == RecommenderModel.Status.READY and fresh.interruptions == 0
