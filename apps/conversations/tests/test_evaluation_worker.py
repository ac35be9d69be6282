"""An evaluation run through a real Celery worker (issue 14): POST .../evaluation/ commits a pending run and
enqueues conversations.evaluate; the worker (in a thread, on the embedded Redis broker, real offline model)
computes the figures; the list then shows the finished run.
"""

import time

import pytest

from apps.bots.tests.factories import BotFactory
from apps.conversations import qa
from apps.conversations.models import EvaluationRun
from apps.conversations.tests.utils import ingest
from apps.documents.tests import samples
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from conftest import client_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_post_evaluation_is_computed_by_the_worker(celery_worker, transactional_db, offline):
    """202 pending -> the worker finishes the run -> the list shows it done with its figures."""
    admin = MembershipFactory(role=Role.ADMIN)
    organization, client = admin.organization, client_for(admin.user)
    bot = BotFactory(organization=organization, min_score=0.3)
    ingest(bot, "guide.md", samples.md())
    qa.qa_pair_create(
        organization=organization,
        bot=bot,
        question="How long do refunds take?",
        answer="Refunds are processed within 14 days of a request to the support team.",
    )
    url = f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/evaluation/"

    response = client.post(url, {}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    # The run is real work in the worker thread (embedding the pair, a search, the offline answerer:
    # a few seconds, more on a loaded machine); the bound only stops a hang, no timing is asserted.
    deadline = time.monotonic() + 120
    while not EvaluationRun.objects.filter(status__in=["done", "failed"]).exists() and time.monotonic() < deadline:
        time.sleep(0.2)

    [listed] = client.get(url).json()["results"]
    assert listed["id"] == response.json()["id"] and listed["status"] == "done", listed
    assert listed["metrics"] == {
        "pairs": 1, "k": 5, "answered": 1, "recall_at_1": 1.0, "recall_at_k": 1.0, "mrr": 1.0,
        "grounded_answer_rate": 1.0, "refusal_rate": 0.0,
    }  # fmt: skip
    assert listed["finished_at"] is not None and listed["delta"] is None
