"""Board generation on the real PostgreSQL, Redis, recommender and renderers (issue 19).

Covers: the inputs (goals with target items and progress on them, interests ranked by engagement, milestones
with the streak, recommended next items with reasons); captions by the template composer offline and by the
language model (only its HTTP transport faked), with the template filling in when the model fails; item
images fetched through apps.core.fetch from a real local server, a missing image giving a placeholder; the
SVG parses and the PNG is a valid image of the layout's size; unchanged inputs store no new version,
changed ones (and `force`) do; old versions are pruned with their files.
"""

import io
import json
import xml.etree.ElementTree as ET

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image

from apps.boards import compose
from apps.boards.models import VisionBoard
from apps.boards.selectors import member_top_interests
from apps.boards.services import goal_create, vision_board_generate
from apps.boards.tests.board_utils import png_bytes, scene
from apps.conversations.tests.fixtures import llm  # noqa: F401  (fixture: the fake model)
from apps.conversations.tests.utils import completion, status
from apps.core.tests.local_site import LocalSite, Page
from apps.interests.services import member_interests_delete
from apps.personality.models import PersonalityProfile

pytestmark = pytest.mark.django_db
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def offline(settings):
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None


@pytest.fixture
def site(settings):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    with LocalSite() as local:
        local.pages["/cover.png"] = Page(body=png_bytes(), content_type="image/png")
        yield local


def groups(board) -> dict:
    return {group["key"]: group for group in board.layout["groups"]}


def test_generate_offline_board_with_every_group(organization, offline, site):
    """Goals, milestones, next steps (with reasons) and interests, template captions; SVG and PNG valid."""
    s = scene(organization, site=site)
    board, created = vision_board_generate(membership=s.membership)
    assert created and board.version == 1 and board.captions == "template" and board.captions_note == ""
    g = groups(board)
    assert list(g) == ["goals", "milestones", "next", "interests"]
    goal = g["goals"]["cards"][0]
    assert goal["title"] == "Become a data analyst"
    assert "0 of 2 done: Data analysis with pandas, SQL from scratch" in goal["detail"]
    assert g["goals"]["caption"].startswith("1 goal to aim for, the first by ")
    stat = g["milestones"]["cards"][0]
    assert stat["title"] == "3 completed · 3-day streak · best streak 3 days"
    assert [card["title"] for card in g["milestones"]["cards"][1:]] == [
        "Python basics 3",
        "Python basics 2",
        "Python basics 1",
    ]
    assert g["milestones"]["caption"] == "So far: 3 items completed, a 3-day streak going."
    next_cards = g["next"]["cards"]
    assert {card["item"] for card in next_cards} <= {item.pk for item in s.todo} and next_cards
    assert all(card["detail"] for card in next_cards)  # every recommendation says why
    # interests: python is engaged with (the tag of the completed items), the others keep the member's order
    assert [card["title"] for card in g["interests"]["cards"]] == ["python", "cooking", "data"]
    assert board.layout["title"] == "Ada's vision board"

    root = ET.fromstring(board.svg.encode())
    assert root.tag == f"{SVG}svg" and root.get("width") == str(board.width)
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert "Become a data analyst" in texts and "My next steps" in texts
    with default_storage.open(board.png.name, "rb") as file:
        image = Image.open(io.BytesIO(file.read()))
        image.load()
    assert image.format == "PNG" and image.size == (board.width, board.height) == (1200, board.layout["height"])
    # the rendering is not blank: the header band is dark, the background light
    assert image.convert("RGB").getpixel((5, 5)) == (30, 30, 46)
    assert image.convert("RGB").getpixel((5, board.height - 5)) == (246, 246, 251)


def test_item_images_embedded_or_placeholder(organization, offline, site):
    """The catalog image is fetched, re-encoded and embedded as data; a 404 image gives a placeholder."""
    s = scene(organization, site=site)
    board, _ = vision_board_generate(membership=s.membership)
    cards = {card["item"]: card for card in groups(board)["next"]["cards"]}
    with_image, missing = s.todo[0].pk, s.todo[1].pk
    assert with_image in cards and missing in cards, cards.keys()
    assert cards[with_image]["image"].startswith("data:image/jpeg;base64,")
    assert cards[missing]["image"] is None and cards[missing]["placeholder"] == "P"
    images = list(ET.fromstring(board.svg.encode()).iter(f"{SVG}image"))
    assert len(images) == 1
    assert images[0].get("{http://www.w3.org/1999/xlink}href").startswith("data:image/jpeg;base64,")
    assert set(site.paths()) == {"/cover.png", "/missing.png"}


def test_image_refused_address_and_non_image_degrade(organization, offline, site, settings):
    """A private address (not allowed) and a body that is no image both give placeholders, not errors."""
    from apps.boards.images import image_data_uri

    site.pages["/page.png"] = Page(body=b"<html>not an image</html>", content_type="image/png")
    assert image_data_uri(site.url("/page.png")) is None
    assert image_data_uri(site.url("/cover.png")).startswith("data:image/jpeg;base64,")
    settings.BOARDS_IMAGE_MAX_BYTES = 100
    assert image_data_uri(site.url("/cover.png")) is None  # too large
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = []
    settings.BOARDS_IMAGE_MAX_BYTES = 2_000_000
    assert image_data_uri(site.url("/cover.png")) is None  # loopback refused


def test_unchanged_inputs_store_no_new_version_changed_ones_do(organization, offline):
    """Same inputs: the latest board, no write; a new goal: version 2; `force`: version 3."""
    s = scene(organization)
    first, _ = vision_board_generate(membership=s.membership)
    again, created = vision_board_generate(membership=s.membership)
    assert not created and again.pk == first.pk and VisionBoard.objects.count() == 1
    goal_create(membership=s.membership, text="Ship a side project")
    second, created = vision_board_generate(membership=s.membership)
    assert created and second.version == 2 and second.inputs_hash != first.inputs_hash
    assert [card["title"] for card in groups(second)["goals"]["cards"]] == [
        "Become a data analyst",
        "Ship a side project",
    ]
    forced, created = vision_board_generate(membership=s.membership, force=True)
    assert created and forced.version == 3 and forced.inputs_hash == second.inputs_hash


def test_old_versions_pruned_with_files(organization, offline, settings, django_capture_on_commit_callbacks):
    """Past BOARDS_KEEP_VERSIONS the oldest board and its PNG file are deleted."""
    settings.BOARDS_KEEP_VERSIONS = 2
    s = scene(organization)
    with django_capture_on_commit_callbacks(execute=True):
        boards = [vision_board_generate(membership=s.membership, force=True)[0] for _ in range(3)]
    assert list(VisionBoard.objects.values_list("version", flat=True)) == [3, 2]
    assert not default_storage.exists(boards[0].png.name)
    assert default_storage.exists(boards[2].png.name)


def test_language_model_writes_captions_from_data_without_personality(organization, llm):  # noqa: F811
    """With a model configured its captions are used; the request carries the board's data as quoted JSON
    and no personality note."""
    answer = {
        "title": "Ada, on the way to data",
        "captions": {
            "goals": "You are set on becoming a data analyst.",
            "milestones": "Three lessons done in three days: keep it up.",
            "next": "These steps bring you closer.",
            "interests": "Python and data light you up.",
        },
    }
    fake = llm(completion(json.dumps(answer)))
    s = scene(organization)
    board, _ = vision_board_generate(membership=s.membership)
    assert board.captions == "language_model"
    g = groups(board)
    assert board.layout["title"] == "Ada, on the way to data"
    assert g["milestones"]["caption"] == "Three lessons done in three days: keep it up."
    assert g["interests"]["caption"] == "Python and data light you up."
    sent = json.loads(fake.requests[0].content)
    assert sent["response_format"] == {"type": "json_object"}
    user_message = sent["messages"][1]["content"]
    assert "Become a data analyst" in user_message and "personal_note" not in user_message


def test_language_model_failure_falls_back_to_template(organization, llm):  # noqa: F811
    """A 500 from the model: template captions, the reason kept on the board."""
    llm(status(500), status(500), status(500), status(500))
    s = scene(organization)
    board, _ = vision_board_generate(membership=s.membership)
    assert board.captions == "template"
    assert board.captions_note.startswith("language model failed: InternalServerError")
    assert groups(board)["goals"]["caption"].startswith("1 goal to aim for")


def test_language_model_partial_answer_completed_by_template(organization, llm):  # noqa: F811
    """Captions missing or not strings in the answer are the template's; overlong ones are cut."""
    llm(completion(json.dumps({"captions": {"goals": "x" * 500, "next": 42}})))
    s = scene(organization)
    board, _ = vision_board_generate(membership=s.membership)
    g = groups(board)
    assert board.captions == "language_model"
    assert g["goals"]["caption"] == "x" * compose.CAPTION_MAX
    assert (
        g["next"]["caption"] == compose.template_captions(compose.board_inputs_collect(membership=s.membership))["next"]
    )
    assert board.layout["title"] == "Ada's vision board"


def test_member_top_interests_ranks_by_weight_across_sources(organization):
    """The one interest reader: the member's structured interests, strongest first whatever their source
    (synced python 1.0, stated cooking 0.6 and data 0.4); limit honoured; none once they are deleted."""
    s = scene(organization)
    assert member_top_interests(s.membership, 2) == ["python", "cooking"]
    assert member_top_interests(s.membership, 5) == ["python", "cooking", "data"]
    member_interests_delete(organization_id=organization.pk, user_ids=[s.user.pk])
    assert member_top_interests(s.membership, 5) == []


def test_personality_fit_kept_apart_as_personal_note(organization, offline):
    """A conscientious member's course recommendations carry the fit as `personal_note`, not in the reason,
    and the SVG never draws it (docs/boards.md, "Privacy")."""
    s = scene(organization)
    PersonalityProfile.objects.create(
        organization=organization, user=s.user, conscientiousness=0.95, conscientiousness_confidence=0.9,
        source="questionnaire", input_hash="test", computed_at=timezone.now(),
    )  # fmt: skip
    board, _ = vision_board_generate(membership=s.membership)
    next_cards = groups(board)["next"]["cards"]
    assert next_cards and all(
        card["personal_note"] == "which suits your preference for structured courses" for card in next_cards
    )
    assert not any("suits" in card["detail"] for card in next_cards)
    assert "suits your" not in board.svg


def test_new_member_of_an_empty_organization_gets_a_board(organization, offline):
    """No goals, interests, progress or catalog: every group is there with its encouraging caption."""
    from apps.organizations.tests.factories import MembershipFactory

    membership = MembershipFactory(organization=organization, user__interests=[])
    board, created = vision_board_generate(membership=membership)
    assert created
    g = groups(board)
    assert all(not group["cards"] for group in g.values())
    assert g["goals"]["caption"] == "No goals yet: add one and this board will show the way to it."
    assert g["next"]["caption"].startswith("Nothing to suggest yet")
    ET.fromstring(board.svg.encode())


def test_control_characters_and_long_words_still_render(organization, offline):
    """A goal with control characters and an endless word: the SVG parses, lines fit, overlong text ends in …."""
    from apps.boards.render import COLUMN, PAD, text_width, wrap

    s = scene(organization)
    goal_create(membership=s.membership, text="Learn\x01 to\x0b juggle " + "a" * 300 + " and more words" * 10)
    board, _ = vision_board_generate(membership=s.membership)
    card = groups(board)["goals"]["cards"][1]
    assert len(card["title_lines"]) == 2 and card["title_lines"][1].endswith("…")
    assert all(text_width(line, 16, bold=True) <= COLUMN - 2 * PAD - 32 for line in card["title_lines"])
    texts = [t.text for t in ET.fromstring(board.svg.encode()).iter(f"{SVG}text")]
    assert "Learn to" in " ".join(texts)
    assert wrap("one two three", 16, 10_000) == ["one two three"] and wrap("", 16, 100) == []
