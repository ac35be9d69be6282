"""The admin at a real customer's size (apps/core/admin.py): the estimated count of large changelists and the
counted delete confirmation.

Coverage: `EstimatedCountPaginator` counts a table above its threshold from pg_class.reltuples and a filtered
list from the planner's estimate, without running COUNT(*); below the threshold, or an empty result, it counts
exactly. `counted_deleted_objects` counts a bot's cascade once per model (a chunk goes with its bot and with its
document: counted once), in as many queries for 30 chunks as for 3, and names at most PROTECTED_EXAMPLES
protected rows, counting the rest; the bot's delete page and "Delete selected" show it. "Delete selected" over
`bulk_delete_limit` objects deletes nothing and says so; a "select all" is counted in SQL and names at most
LISTED_OBJECTS objects.
"""

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.bots.models import Bot
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.core import admin as core_admin
from apps.core.admin import EstimatedCountPaginator, counted_deleted_objects
from apps.documents.models import Chunk, Document
from apps.documents.tests.factories import DocumentFactory
from apps.organizations.models import Organization
from apps.progress.models import ContentItem
from apps.progress.tests.factories import ContentItemFactory
from apps.users.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def counts_run(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].upper().startswith("SELECT COUNT(")]


def analyze(model):
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{model._meta.db_table}"')


@pytest.fixture
def items(organization):
    return [ContentItemFactory(organization=organization, kind="lesson" if n % 2 else "course") for n in range(30)]


def test_a_large_table_is_counted_from_its_statistics(items, monkeypatch):
    """Above the threshold: reltuples, and no COUNT(*)."""
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 10)
    analyze(ContentItem)

    with CaptureQueriesContext(connection) as queries:
        count = EstimatedCountPaginator(ContentItem.objects.all(), 10).count

    assert count == 30  # ANALYZE read every row of this small table: the estimate is exact here
    assert counts_run(queries.captured_queries) == []
    assert any("reltuples" in q["sql"] for q in queries.captured_queries)


def test_a_filtered_large_list_is_counted_from_the_plan(items, monkeypatch):
    """A filter above the threshold: the planner's estimate (EXPLAIN), no COUNT(*)."""
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 10)
    analyze(ContentItem)

    with CaptureQueriesContext(connection) as queries:
        count = EstimatedCountPaginator(ContentItem.objects.filter(kind="lesson"), 10).count

    assert 10 <= count <= 30
    assert counts_run(queries.captured_queries) == []
    assert any(q["sql"].startswith("EXPLAIN") for q in queries.captured_queries)


def test_small_and_empty_results_are_counted_exactly(items, monkeypatch):
    """Below the threshold, or a result Django knows to be empty: COUNT(*), exact."""
    analyze(ContentItem)
    with CaptureQueriesContext(connection) as queries:
        assert EstimatedCountPaginator(ContentItem.objects.filter(kind="lesson"), 10).count == 15
    assert len(counts_run(queries.captured_queries)) == 1
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 10)
    assert EstimatedCountPaginator(ContentItem.objects.filter(pk__in=[]), 10).count == 0


def bot_with(organization, documents: int, chunks_each: int, conversations: int) -> Bot:
    bot = BotFactory(organization=organization)
    for _ in range(documents):
        document = DocumentFactory(bot=bot)
        Chunk.objects.bulk_create(
            Chunk(organization=organization, bot=bot, document=document, position=n, text="x", content_hash="x")
            for n in range(chunks_each)
        )
    for _ in range(conversations):
        conversation = Conversation.objects.create(organization=organization, bot=bot)
        Message.objects.create(organization=organization, conversation=conversation, role="user", content="hi")
    return bot


def superuser_request():
    request = RequestFactory().get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    return request


def test_a_cascade_is_counted_once_per_model_in_constant_queries(organization):
    """Chunks are reached through the bot and through their documents: counted once. Ten times the rows, the
    same queries."""
    small = bot_with(organization, documents=1, chunks_each=3, conversations=1)
    large = bot_with(organization, documents=3, chunks_each=10, conversations=5)
    request = superuser_request()

    with CaptureQueriesContext(connection) as small_queries:
        counted_deleted_objects([small], request, admin.site)
    with CaptureQueriesContext(connection) as large_queries:
        deleted, model_count, perms_needed, protected = counted_deleted_objects([large], request, admin.site)

    assert len(large_queries.captured_queries) == len(small_queries.captured_queries)
    assert model_count == {"bots": 1, "documents": 3, "chunks": 30, "conversations": 5, "messages": 5}
    assert protected == []
    assert perms_needed == {"chunk"}  # as Django's: ChunkAdmin deletes nothing (ServiceDeleteAdmin drops it)
    assert f"/admin/bots/bot/{large.pk}/change/" in deleted[0]
    assert deleted[1] == "With them: 3 documents, 30 chunks, 5 conversations, 5 messages."


def test_protected_rows_are_named_up_to_a_limit_and_counted(organization, monkeypatch):
    """A course with lessons (PROTECT): the first PROTECTED_EXAMPLES lessons named, the others counted."""
    monkeypatch.setattr(core_admin, "PROTECTED_EXAMPLES", 2)
    course = ContentItemFactory(organization=organization, kind="course")
    lessons = [ContentItemFactory(organization=organization, parent=course, title=f"Lesson {n}") for n in range(5)]

    _deleted, _counts, _perms, protected = counted_deleted_objects([course], superuser_request(), admin.site)

    assert len(protected) == 3
    assert f"/admin/progress/contentitem/{lessons[0].pk}/change/" in protected[0] and "Lesson 0" in protected[0]
    assert protected[2] == "… and 3 more content items"


def test_bot_delete_page_and_bulk_confirmation_show_the_counts(staff_client, organization):
    bot = bot_with(organization, documents=2, chunks_each=4, conversations=1)

    page = staff_client.get(reverse("admin:bots_bot_delete", args=[bot.pk])).content.decode()
    bulk = staff_client.post(
        reverse("admin:bots_bot_changelist"), {"action": "delete_selected", "_selected_action": [bot.pk]}
    ).content.decode()

    for text in (page, bulk):
        assert "With them: 2 documents, 8 chunks, 1 conversations, 1 messages." in text
        assert "Chunk: " not in text  # no chunk listed one by one
    assert Document.objects.filter(bot=bot).count() == 2


def test_an_organization_is_deleted_through_the_service_without_loading_its_rows(staff_client, organization):
    """The delete page says what happens instead of listing every record (nothing of the organization is loaded or
    counted: its tables are the whole catalog and every event); confirming hides it at once and leaves its rows to the
    purge (docs/api.md#deleting-an-organization), like the owner's API delete."""
    ContentItemFactory.create_batch(3, organization=organization)
    url = reverse("admin:organizations_organization_delete", args=[organization.pk])

    page = staff_client.get(url).content.decode()
    done = staff_client.post(url, {"post": "yes"}, follow=True)

    assert "hidden at once, then every record of it deleted in the background" in page
    assert "Content item: " not in page and "Cannot delete" not in page
    assert done.status_code == 200
    assert not Organization.objects.filter(pk=organization.pk).exists()
    hidden = Organization.all_objects.get(pk=organization.pk)
    assert hidden.deleted_at is not None
    assert ContentItem.objects.filter(organization=organization).count() == 3  # the purge's work


def test_deletions_in_progress_are_listed_read_only_and_counted(staff_client, organization, settings):
    """An organization and a bot deleted and not yet purged are out of the default lists, the autocomplete and the
    delete page, and listed under "state: being deleted", each page read-only with how its purge stands (a purge
    quiet for longer than the recovery lease said so); /health/ and /metrics count them."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.bots.selectors import bot_purge_backlog
    from apps.bots.services import bot_delete
    from apps.organizations.selectors import organization_purge_backlog
    from apps.organizations.services import organization_mark_deleted

    BotFactory(organization=organization, name="Kept bot")
    gone_bot = BotFactory(organization=organization, name="Gone bot")
    gone = Organization.objects.create(name="Gone Org", slug="gone-org", plan=organization.plan)
    bot_delete(bot=gone_bot)
    organization_mark_deleted(organization=gone)
    long_ago = timezone.now() - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS + 60)
    Organization.all_objects.filter(pk=gone.pk).update(purge_published_at=long_ago, deleted_at=long_ago)

    organizations = reverse("admin:organizations_organization_changelist")
    bots = reverse("admin:bots_bot_changelist")
    existing = staff_client.get(organizations).content.decode()
    deleting = staff_client.get(organizations, {"state": "deleting"}).content.decode()
    bots_existing = staff_client.get(bots).content.decode()
    bots_deleting = staff_client.get(bots, {"state": "deleting"}).content.decode()
    assert organization.name in existing and "Gone Org" not in existing and "Being deleted" in existing
    assert "Gone Org" in deleting and organization.name not in deleting and "quiet for longer" in deleting
    assert "Kept bot" in bots_existing and "Gone bot" not in bots_existing
    assert "Gone bot" in bots_deleting and "Kept bot" not in bots_deleting
    assert 'value="delete_selected"' in bots_existing and 'value="delete_selected"' not in bots_deleting
    from django.contrib.admin.models import DELETION, LogEntry

    staff_client.post(f"{bots}?state=deleting", {"action": "delete_selected", "_selected_action": [gone_bot.pk]})
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()  # no "Successfully deleted" of a deleted bot

    page = staff_client.get(reverse("admin:organizations_organization_change", args=[gone.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and "deleted " in text and "quiet for longer than the recovery lease" in text
    assert 'name="_save"' not in text  # read-only: nothing to save, nothing to delete
    edited = staff_client.post(reverse("admin:organizations_organization_change", args=[gone.pk]),
                               {"name": "Revived", "slug": "revived", "plan": organization.plan.pk})  # fmt: skip
    assert edited.status_code == 403 and Organization.all_objects.get(pk=gone.pk).name == "Gone Org"
    assert staff_client.get(reverse("admin:organizations_organization_delete", args=[gone.pk])).status_code == 302
    bot_page = staff_client.get(reverse("admin:bots_bot_change", args=[gone_bot.pk])).content.decode()
    assert "a purge round last published" in bot_page and "quiet for longer" not in bot_page
    found = staff_client.get(reverse("admin:autocomplete"), {
        "app_label": "bots", "model_name": "bot", "field_name": "organization", "term": "Gone",
    }).json()  # fmt: skip
    assert found["results"] == []

    organizations_figure, bots_figure = organization_purge_backlog(), bot_purge_backlog()
    assert (organizations_figure["pending"], organizations_figure["quiet"]) == (1, 1)
    assert organizations_figure["oldest_age_seconds"] >= settings.RECOVERY_LEASE_SECONDS
    assert (bots_figure["pending"], bots_figure["quiet"]) == (1, 0)
    Bot.all_objects.filter(pk=gone_bot.pk).update(purge_published_at=None)  # never published: quiet too
    assert bot_purge_backlog()["quiet"] == 1
    from apps.core.health import figures

    assert figures()[("database", "organization_purges")]["pending"] == 1


def test_delete_selected_over_the_limit_deletes_nothing(staff_client, organization, monkeypatch):
    """ "Select all" beyond bulk_delete_limit: a message, nothing deleted (the service would run per object in the
    request); within it, the confirmation page."""
    from apps.progress.admin import ContentItemAdmin

    monkeypatch.setattr(ContentItemAdmin, "bulk_delete_limit", 3)
    items = ContentItemFactory.create_batch(4, organization=organization)
    url = reverse("admin:progress_contentitem_changelist")

    refused = staff_client.post(
        url, {"action": "delete_selected", "select_across": "1", "_selected_action": [items[0].pk], "post": "yes"},
        follow=True,
    )  # fmt: skip
    confirm = staff_client.post(url, {"action": "delete_selected", "_selected_action": [i.pk for i in items[:3]]})

    assert "Nothing was deleted: 4 content items selected" in refused.content.decode()
    assert ContentItem.objects.filter(organization=organization).count() == 4
    assert "Are you sure you want to delete the selected content items?" in confirm.content.decode()


def test_select_all_is_counted_in_sql_and_named_up_to_a_limit(organization, monkeypatch):
    """A queryset (the "select all" of a changelist): counted, its first LISTED_OBJECTS named, the rest counted."""
    monkeypatch.setattr(core_admin, "LISTED_OBJECTS", 2)
    ContentItemFactory.create_batch(5, organization=organization)
    queryset = ContentItem.objects.filter(organization=organization)

    deleted, model_count, _perms, protected = counted_deleted_objects(queryset, superuser_request(), admin.site)

    assert model_count == {"content items": 5}
    assert len(deleted) == 3 and deleted[2] == "… and 3 more content items"
    assert protected == []
