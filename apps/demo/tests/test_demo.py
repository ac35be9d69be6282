"""The first run's demo (issue 16): the seed is idempotent, and what it seeds works end to end.

Covers: seeding twice leaves the same rows (bot, documents, chunks, catalog with hierarchy and
prerequisites, learners, progress, events, recommender); the demo bot answers a question about Beacon
from the bundled pages with a citation, through the API and the offline answerer; a demo learner gets
recommendations through the API; the widget preview and the dashboard URLs that devstack prints
answer; devstack's `--no-seed` / BEACON_DEMO_SEED=0 switch; the bundled pages carry their licence.
"""

import pytest

from apps.bots.models import Bot
from apps.core.firstrun import first_run
from apps.core.management.commands.devstack import Command as Devstack
from apps.demo.services import CATALOG, CONTENT_DIR, LEARNERS, demo_documents, demo_seed
from apps.documents.models import Chunk, Document
from apps.organizations.models import Membership, Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.progress.models import ContentItem, ContentPrerequisite, Interaction, Progress
from apps.recommendations.models import RecommenderModel
from apps.users.tests.factories import UserFactory
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def settings_offline(settings):
    """No language model configured: the offline extractive answerer, as on a fresh clone."""
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None
    return settings


@pytest.fixture
def demo(settings_offline, organization, owner):
    return demo_seed(organization=organization, owner=owner)


def snapshot(organization) -> dict:
    """Every row the seed writes, by primary key and natural content."""
    org = {"organization": organization}
    return {
        "bots": list(Bot.objects.filter(**org).values_list("pk", "name", "public_id")),
        "documents": list(Document.objects.filter(**org).values_list("pk", "sha256", "status", "version")),
        "chunks": Chunk.objects.filter(document__organization=organization).count(),
        "items": list(ContentItem.objects.filter(**org).values_list("pk", "external_id", "parent_id", "content_hash")),
        "prerequisites": list(ContentPrerequisite.objects.filter(**org).values_list("item_id", "prerequisite_id")),
        "members": list(Membership.objects.filter(**org).values_list("pk", "user_id", "role", "external_id")),
        "progress": list(Progress.objects.filter(**org).values_list("pk", "user_id", "item_id", "status", "percent")),
        "interactions": list(Interaction.objects.filter(**org).values_list("pk", "user_id", "item_id", "kind")),
        "models": list(RecommenderModel.objects.filter(**org).values_list("pk", "version", "status")),
    }


def test_seeding_twice_leaves_the_same_rows(demo, organization, owner):
    """The second seed finds everything and writes nothing; the first one seeded what it says."""
    first = snapshot(organization)
    again = demo_seed(organization=organization, owner=owner)
    assert snapshot(organization) == first
    assert (again.bot.pk, again.documents, again.items, again.learners, again.model_version) == (
        demo.bot.pk, len(demo_documents()), len(CATALOG), len(LEARNERS), demo.model_version,
    )  # fmt: skip
    assert len(first["documents"]) == 5 and {row[2] for row in first["documents"]} == {"ready"}
    assert first["chunks"] >= 5
    assert first["models"] == [(first["models"][0][0], 1, "ready")]
    items = ContentItem.objects.filter(organization=organization)
    by_ext = {item.external_id: item for item in items}
    lesson = by_ext["demo-lesson-what"]
    assert (lesson.parent.external_id, lesson.parent.parent.external_id) == ("demo-module-kb-docs", "demo-course-kb")
    assert [p.external_id for p in by_ext["demo-lesson-ask"].prerequisites.all()] == ["demo-lesson-upload"]
    learners = Membership.objects.filter(organization=organization, role=Role.MEMBER).exclude(external_id=None)
    assert learners.count() == len(LEARNERS)
    assert Progress.objects.filter(organization=organization, status="completed", item__kind="lesson").exists()
    # Completing lessons rolls up: Dev completed the progress module's two lessons, so the module too.
    dev = learners.get(external_id="demo-learner-dev").user
    module = Progress.objects.get(organization=organization, user=dev, item=by_ext["demo-module-progress"])
    assert (module.status, module.percent) == ("completed", 100)
    kinds = set(Interaction.objects.filter(organization=organization).values_list("kind", flat=True))
    assert {"start", "complete", "view", "like", "save"} <= kinds


def test_the_demo_bot_answers_from_the_bundled_pages_with_a_citation(demo, owner):
    """Through the API, as the demo owner: the widget page is quoted and cited."""
    client = client_for(owner)
    base = f"/api/v1/orgs/{demo.bot.organization.slug}/bots/{demo.bot.pk}/conversations/"
    conversation = client.post(base, {}, format="json")
    assert conversation.status_code == 201, conversation.content
    response = client.post(
        f"{base}{conversation.json()['id']}/messages/",
        {"content": "How do I embed the widget on my site?"},
        format="json",
    )
    assert response.status_code == 201, response.content
    answer = response.json()["answer"]
    assert answer["status"] == "ok", answer
    assert "script tag" in answer["content"]
    assert answer["citations"] and answer["citations"][0]["title"] == "The chat widget"
    assert "[1]" in answer["content"]


def test_a_demo_learner_gets_recommendations(demo, organization, owner):
    """The trained recommender serves a demo learner (asked for by the owner, and by the learner)."""
    ada = Membership.objects.get(organization=organization, external_id="demo-learner-ada").user
    url = f"/api/v1/orgs/{organization.slug}/recommendations/"
    for client, params in ((client_for(owner), {"user": ada.pk}), (client_for(ada), {})):
        response = client.get(url, params)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["model_version"] == demo.model_version and body["results"], body
        titles = {entry["item"]["title"] for entry in body["results"]}
        assert titles <= {title for _ext, _kind, title, *_ in CATALOG}


def test_devstack_urls_answer(settings_offline, client):
    """The first-run step devstack runs (the app registers it) seeds the organization `demo` and returns
    the widget preview and dashboard URLs; both pages answer the demo owner (a superuser)."""
    organization = OrganizationFactory(slug="demo")
    owner = UserFactory(is_staff=True, is_superuser=True)
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    urls = dict(first_run(base_url="http://testserver"))
    assert set(urls) == {"Widget preview", "Dashboard"}
    bot = Bot.objects.get(organization=organization)
    assert urls["Widget preview"] == f"http://testserver/widget/{bot.public_id}/preview/"
    client.force_login(owner)
    preview = client.get(urls["Widget preview"].removeprefix("http://testserver"))
    assert preview.status_code == 200
    assert f"/widget/{bot.public_id}.js" in preview.content.decode()
    dashboard = client.get(urls["Dashboard"].removeprefix("http://testserver"))
    assert dashboard.status_code == 200
    assert organization.name in dashboard.content.decode()


def test_first_run_without_the_demo_organization_seeds_nothing(settings_offline):
    """No organization `demo` (seed_demo not run): no URLs and no rows."""
    assert first_run(base_url="http://testserver") == []
    assert not Bot.objects.exists()


@pytest.mark.parametrize(
    ("environ", "argv", "seed"),
    [({}, [], True), ({"BEACON_DEMO_SEED": "0"}, [], False), ({}, ["--no-seed"], False),
     ({"BEACON_DEMO_SEED": "1"}, [], True)],
)  # fmt: skip
def test_devstack_seed_switch(monkeypatch, environ, argv, seed):
    """`make run SEED=0` sets BEACON_DEMO_SEED=0; `--no-seed` does the same on the command line."""
    monkeypatch.delenv("BEACON_DEMO_SEED", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert Devstack().create_parser("manage.py", "devstack").parse_args(argv).seed is seed


def test_the_bundled_pages_are_licensed_and_not_seeded_twice_by_name():
    """The folder says its licence (CC0); the README is not part of the knowledge base."""
    assert "CC0" in (CONTENT_DIR / "README.md").read_text()
    names = [name for name, _data in demo_documents()]
    assert "README.md" not in names and len(names) == len(set(names)) == 5


def test_demo_seed_command_is_registered():
    """`manage.py demo_seed` exists (the command `make run` users may run again by hand)."""
    from django.core.management import get_commands

    assert get_commands()["demo_seed"] == "apps.demo"
