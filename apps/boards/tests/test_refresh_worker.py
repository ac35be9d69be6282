"""Board regeneration through a real Celery worker (issue 19): a member with a board adds a goal through the
API; on commit the `boards.vision_board_refresh` task is published and the worker stores version 2 with the
new goal. Running the task again (called directly) with unchanged inputs stores nothing (idempotent)."""

import time

import pytest

from apps.boards.models import VisionBoard
from apps.boards.services import vision_board_generate
from apps.boards.tests.board_utils import scene
from apps.organizations.tests.factories import OrganizationFactory
from conftest import client_for
from workers.tasks.boards import vision_board_refresh

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def wait_version(version: int, timeout: float = 90) -> VisionBoard | None:
    """The board of that version once the worker stored it (the bound only stops a broken run hanging)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        board = VisionBoard.objects.filter(version=version).first()
        if board is not None:
            return board
        time.sleep(0.2)
    return None


def test_goal_added_through_api_regenerates_board_in_worker(celery_worker, settings):
    """POST a goal: the worker stores version 2 showing it; a rerun with unchanged inputs stores nothing."""
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None
    organization = OrganizationFactory()
    s = scene(organization)
    vision_board_generate(membership=s.membership)

    response = client_for(s.user).post(
        f"/api/v1/orgs/{organization.slug}/me/goals/", {"text": "Run a data meetup"}, format="json"
    )
    assert response.status_code == 201

    board = wait_version(2)
    assert board is not None, list(VisionBoard.objects.values_list("version", flat=True))
    goals = next(group for group in board.layout["groups"] if group["key"] == "goals")
    assert [card["title"] for card in goals["cards"]] == ["Become a data analyst", "Run a data meetup"]
    vision_board_refresh(organization.pk, s.user.pk)  # the task called directly: nothing changed, nothing stored
    assert list(VisionBoard.objects.order_by("version").values_list("version", flat=True)) == [1, 2]
