"""The boards API through routing, authentication and roles (issue 19).

Covers: goals of the member (me/) and of any member for admins and API keys (members/{id}/): create, list,
read, change, delete with whole bodies and persisted state; bad input (missing text, unknown or foreign
target items, too many, bad date, too many goals) is 400 naming the field; members cannot use members/,
API keys cannot use me/, another member's goal is 404. Boards: generate (201, then 200 when unchanged),
read, the HTML page, SVG and PNG; delete with files; a goal change regenerates on commit (task registered).
Privacy: personality notes only for the member, or admins where the organization allows it, never API keys
or after the member deleted their personality data; share links show the board without them, expire, and
end on revoke and on a newer version. Leaving the organization deletes goals, boards and files.
"""

import io
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from apps.boards.models import Goal, VisionBoard
from apps.boards.services import vision_board_generate
from apps.boards.tests.board_utils import scene
from apps.organizations.models import Role
from apps.organizations.services import membership_remove
from apps.organizations.tests.factories import MembershipFactory, api_key_for
from apps.personality.services import profile_delete
from apps.progress.tests.factories import ContentItemFactory
from conftest import client_for

pytestmark = pytest.mark.django_db
NOTE = "which suits your preference for videos"


@pytest.fixture(autouse=True)
def offline(settings):
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None


@pytest.fixture
def s(organization):
    return scene(organization)


def url(organization, rest: str, membership=None) -> str:
    who = f"members/{membership.pk}" if membership is not None else "me"
    return f"/api/v1/orgs/{organization.slug}/{who}/{rest}"


def with_personal_note(board) -> VisionBoard:
    """The stored layout as the generator writes it for a recommendation whose reason had a personality fit."""
    board.layout["groups"][2]["cards"][0]["personal_note"] = NOTE
    board.save(update_fields=["layout"])
    return board


def cards(body, key="next"):
    return next(group for group in body["layout"]["groups"] if group["key"] == key)["cards"]


# --------------------------------------------------------------------------- goals


def test_member_creates_reads_changes_and_deletes_own_goals(organization, s):
    """me/goals/: the whole body on create, the list, PATCH of each field, DELETE; state persisted."""
    client = client_for(s.user)
    item = s.todo[2]
    response = client.post(
        url(organization, "goals/"),
        {"text": "  Write tests first  ", "target_items": [item.pk], "target_date": "2027-06-30"},
        format="json",
    )
    assert response.status_code == 201, response.content
    goal = Goal.objects.get(pk=response.json()["id"])
    assert response.json() == {
        "id": goal.pk, "user": s.user.pk, "text": "Write tests first",
        "target_items": [{"id": item.pk, "title": "Testing your code"}], "target_date": "2027-06-30",
        "created_at": goal.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": goal.updated_at.isoformat().replace("+00:00", "Z"),
    }  # fmt: skip
    listed = client.get(url(organization, "goals/")).json()
    assert listed["count"] == 2 and [row["text"] for row in listed["results"]] == [
        "Become a data analyst",
        "Write tests first",
    ]
    response = client.patch(
        url(organization, f"goals/{goal.pk}/"), {"target_items": [], "target_date": None}, format="json"
    )
    assert response.status_code == 200 and response.json()["target_items"] == []
    goal.refresh_from_db()
    assert goal.target_date is None and goal.text == "Write tests first" and not goal.target_items.exists()
    assert client.get(url(organization, f"goals/{goal.pk}/")).json()["target_date"] is None
    assert client.delete(url(organization, f"goals/{goal.pk}/")).status_code == 204
    assert not Goal.objects.filter(pk=goal.pk).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 501}, "text"),
        ({"text": "Ok", "target_date": "someday"}, "target_date"),
        ({"text": "Ok", "target_date": "1900-01-01"}, "target_date"),  # the API's dates run from 1970 (a typo)
        ({"text": "Ok", "target_items": ["abc"]}, "target_items"),
        ({"text": "Ok", "target_items": "1"}, "target_items"),
    ],
)
def test_bad_goal_input_is_400_naming_the_field(organization, s, body, field):
    """Invalid goals are refused with the field named; nothing stored."""
    before = Goal.objects.count()
    response = client_for(s.user).post(url(organization, "goals/"), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"], response.json()
    assert Goal.objects.count() == before


def test_target_items_of_another_organization_are_refused(organization, other_organization, s):
    """An item id of another organization is named as not in the catalog (as a missing one)."""
    foreign = ContentItemFactory(organization=other_organization)
    response = client_for(s.user).post(
        url(organization, "goals/"), {"text": "Sneak", "target_items": [foreign.pk]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_reference"
    assert error["message"] == f"target_items: no content item with id {foreign.pk} in this organization."
    response = client_for(s.user).post(
        url(organization, "goals/"), {"text": "Ghost", "target_items": [999999999]}, format="json"
    )
    assert (
        response.json()["error"]["message"] == "target_items: no content item with id 999999999 in this organization."
    )


def test_goal_limits(organization, s, settings):
    """More goals than BOARDS_MAX_GOALS: 409; more target items than BOARDS_MAX_GOAL_ITEMS: 400 with the reason."""
    settings.BOARDS_MAX_GOALS = 1
    response = client_for(s.user).post(url(organization, "goals/"), {"text": "One more"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "too_many_goals"
    settings.BOARDS_MAX_GOALS = 20
    settings.BOARDS_MAX_GOAL_ITEMS = 1
    ids = [item.pk for item in s.todo[:2]]
    response = client_for(s.user).post(url(organization, "goals/"), {"text": "Two", "target_items": ids}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["target_items"] == ["At most 1 target items per goal."]


def test_admin_and_api_key_manage_a_members_goals(organization, s, admin_user):
    """members/{id}/goals/: admins and API keys read and write; the goal belongs to the member."""
    response = client_for(admin_user).post(url(organization, "goals/", s.membership), {"text": "Mentor set"})
    assert response.status_code == 201 and response.json()["user"] == s.user.pk
    _, key = api_key_for(organization)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    listed = api.get(url(organization, "goals/", s.membership)).json()
    assert [row["text"] for row in listed["results"]] == ["Become a data analyst", "Mentor set"]
    assert api.get(url(organization, "goals/")).status_code == 403  # me/ is for people


def test_member_cannot_use_members_endpoints_or_see_others_goals(organization, s, member):
    """A member: 403 on members/{id}/..., 404 for another member's goal id under me/."""
    client = client_for(member)
    assert client.get(url(organization, "goals/", s.membership)).status_code == 403
    assert client.post(url(organization, "vision-board/", s.membership)).status_code == 403
    goal = Goal.objects.get(user=s.user)
    response = client.get(url(organization, f"goals/{goal.pk}/"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert client.delete(url(organization, f"goals/{goal.pk}/")).status_code == 404
    assert Goal.objects.filter(pk=goal.pk).exists()


def test_goal_change_refreshes_an_existing_board_on_commit(organization, s, django_capture_on_commit_callbacks):
    """With a board, a new goal registers the refresh task on commit (without one, nothing)."""
    from unittest import mock

    from workers.tasks.boards import vision_board_refresh

    client = client_for(s.user)
    with mock.patch.object(vision_board_refresh, "apply_async") as published:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            client.post(url(organization, "goals/"), {"text": "No board yet"}, format="json")
        assert published.call_count == 0
        vision_board_generate(membership=s.membership)
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            client.post(url(organization, "goals/"), {"text": "With a board"}, format="json")
        assert len(callbacks) == 1
        published.assert_called_once()
        assert published.call_args.args[0] == (organization.pk, s.user.pk)


# --------------------------------------------------------------------------- boards


def test_generate_read_and_render_own_board(organization, s):
    """POST 201 then 200 (unchanged); GET; the page, SVG and PNG answer with their types."""
    client = client_for(s.user)
    response = client.post(url(organization, "vision-board/"), {}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    board = VisionBoard.objects.get()
    assert body["id"] == board.pk and body["version"] == 1 and body["created"] is True
    assert body["links"] == {
        "page": url(organization, "vision-board/page/"),
        "svg": url(organization, "vision-board/image.svg"),
        "png": url(organization, "vision-board/image.png"),
    }
    assert body["shared"] is False and body["captions"] == "template"
    assert body["width"] == 1200 and body["height"] == board.height
    again = client.post(url(organization, "vision-board/"), {}, format="json")
    assert again.status_code == 200 and again.json()["created"] is False and again.json()["id"] == board.pk
    assert client.post(url(organization, "vision-board/"), {"force": True}, format="json").json()["version"] == 2
    assert client.post(url(organization, "vision-board/"), {"force": "maybe"}, format="json").status_code == 400
    assert client.get(url(organization, "vision-board/")).json()["version"] == 2

    page = client.get(url(organization, "vision-board/page/"))
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    assert b"Become a data analyst" in page.content and b'name="viewport"' in page.content
    svg = client.get(url(organization, "vision-board/image.svg"))
    assert svg["Content-Type"] == "image/svg+xml"
    ET.fromstring(svg.content)
    png = client.get(url(organization, "vision-board/image.png"))
    assert png["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (1200, board.height)


def test_no_board_yet_is_404(organization, s):
    """Reading a board before generating one: 404 saying so."""
    client = client_for(s.user)
    for rest in ("vision-board/", "vision-board/page/", "vision-board/image.png", "vision-board/image.svg"):
        response = client.get(url(organization, rest))
        assert response.status_code == 404
        assert "generate one" in response.json()["error"]["message"]


def test_delete_boards_removes_rows_and_files(organization, s, django_capture_on_commit_callbacks):
    """DELETE vision-board/: every version and its PNG go; goals stay."""
    first, _ = vision_board_generate(membership=s.membership)
    second, _ = vision_board_generate(membership=s.membership, force=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(s.user).delete(url(organization, "vision-board/"))
    assert response.status_code == 200 and response.json() == {"deleted": 2}
    assert not VisionBoard.objects.exists() and Goal.objects.filter(user=s.user).count() == 1
    assert not default_storage.exists(first.png.name) and not default_storage.exists(second.png.name)


def test_admin_generates_a_members_board(organization, s, admin_user):
    """members/{id}/vision-board/: admins generate and read; links name the member's URLs."""
    response = client_for(admin_user).post(url(organization, "vision-board/", s.membership), {}, format="json")
    assert response.status_code == 201 and response.json()["user"] == s.user.pk
    assert response.json()["links"]["png"] == url(organization, "vision-board/image.png", s.membership)


# --------------------------------------------------------------------------- privacy


def test_personal_notes_only_for_the_member_or_allowed_admins(organization, s, admin_user):
    """The member sees the note; an admin only with personality_admin_access; an API key never."""
    with_personal_note(vision_board_generate(membership=s.membership)[0])
    mine = client_for(s.user).get(url(organization, "vision-board/")).json()
    assert cards(mine)[0]["personal_note"] == NOTE
    page = client_for(s.user).get(url(organization, "vision-board/page/"))
    assert NOTE.capitalize().encode() in page.content
    admin = client_for(admin_user)
    assert "personal_note" not in cards(admin.get(url(organization, "vision-board/", s.membership)).json())[0]
    assert NOTE.capitalize().encode() not in admin.get(url(organization, "vision-board/page/", s.membership)).content
    organization.personality_admin_access = True
    organization.save()
    assert cards(admin.get(url(organization, "vision-board/", s.membership)).json())[0]["personal_note"] == NOTE
    _, key = api_key_for(organization)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert "personal_note" not in cards(api.get(url(organization, "vision-board/", s.membership)).json())[0]
    # the stored renderings never hold it
    board = VisionBoard.objects.get()
    assert NOTE not in board.svg


def test_personal_notes_hidden_after_personality_deletion(organization, s):
    """A board made before the member deleted their personality data no longer shows its notes."""
    with_personal_note(vision_board_generate(membership=s.membership)[0])
    profile_delete(organization=organization, user_id=s.user.pk)
    mine = client_for(s.user).get(url(organization, "vision-board/")).json()
    assert "personal_note" not in cards(mine)[0]


def test_share_link_public_page_and_png_without_personal_notes(organization, s, api_client):
    """A signed link: the page (HTML, no personality text, not indexed) and the PNG, without an account."""
    with_personal_note(vision_board_generate(membership=s.membership)[0])
    response = client_for(s.user).post(url(organization, "vision-board/share/"))
    assert response.status_code == 201
    link = response.json()
    expires = timezone.datetime.fromisoformat(link["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - timezone.now()) - timedelta(days=7)) < timedelta(minutes=1)
    page = api_client.get(link["url"])
    assert page.status_code == 200 and b"Become a data analyst" in page.content
    assert NOTE.capitalize().encode() not in page.content
    assert page["X-Robots-Tag"] == "noindex, nofollow" and page["Referrer-Policy"] == "no-referrer"
    assert "private" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]
    png = api_client.get(link["png_url"])
    assert png.status_code == 200 and Image.open(io.BytesIO(png.content)).format == "PNG"
    assert client_for(s.user).get(url(organization, "vision-board/")).json()["shared"] is True


def test_share_link_ends_on_revoke_newer_version_and_expiry(organization, s, api_client, settings):
    """Revoke: 404; a newer board: the old link 404; past the max age: 410; a forged token: 404."""
    client = client_for(s.user)
    vision_board_generate(membership=s.membership)
    first = client.post(url(organization, "vision-board/share/")).json()["url"]
    assert api_client.get(first).status_code == 200
    assert client.delete(url(organization, "vision-board/share/")).json() == {"revoked": 1}
    assert api_client.get(first).status_code == 404
    second = client.post(url(organization, "vision-board/share/")).json()["url"]
    assert api_client.get(second).status_code == 200
    vision_board_generate(membership=s.membership, force=True)
    assert api_client.get(second).status_code == 404
    third = client.post(url(organization, "vision-board/share/")).json()["url"]
    assert api_client.get(third.replace("/shared/", "/shared/x")).status_code == 404
    settings.BOARDS_SHARE_MAX_AGE_SECONDS = -1
    expired = api_client.get(third)
    assert expired.status_code == 410 and b"expired" in expired.content


def test_share_without_board_is_404_and_api_keys_cannot_share(organization, s):
    """Nothing to share yet: 404; share links are the member's own act."""
    assert client_for(s.user).post(url(organization, "vision-board/share/")).status_code == 404
    _, key = api_key_for(organization)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.post(url(organization, "vision-board/share/")).status_code == 403


def test_leaving_the_organization_deletes_goals_boards_and_files(
    organization, other_organization, s, django_capture_on_commit_callbacks
):
    """membership_remove: the member's goals and boards there (and PNG files) are gone; other data stays."""
    board, _ = vision_board_generate(membership=s.membership)
    elsewhere = MembershipFactory(organization=other_organization, user=s.user, role=Role.MEMBER)
    Goal.objects.create(organization=other_organization, user=s.user, text="Elsewhere")
    with django_capture_on_commit_callbacks(execute=True):
        membership_remove(membership=s.membership, actor=s.membership)
    assert not Goal.objects.filter(organization=organization, user=s.user).exists()
    assert not VisionBoard.objects.filter(organization=organization).exists()
    assert not default_storage.exists(board.png.name)
    assert Goal.objects.filter(organization=other_organization, user=elsewhere.user).count() == 1
