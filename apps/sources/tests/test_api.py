"""The sources API without a worker: bad input is a 4xx with a message, the private-address rule
answers 400, other organizations see 404, start/cancel/delete follow the crawl's state."""

import pytest

from apps.bots.tests.factories import BotFactory
from apps.core import fetch as fetch_module
from apps.documents.models import Document
from apps.documents.tests.factories import DocumentFactory
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.sources.models import CrawlPage, CrawlSource
from apps.sources.services import sources_recrawl_due
from apps.sources.tests.factories import CrawlPageFactory, CrawlSourceFactory
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner():
    return MembershipFactory(role=Role.OWNER)


@pytest.fixture
def bot(owner):
    return BotFactory(organization=owner.organization)


@pytest.fixture
def client(owner):
    return client_for(owner.user)


@pytest.fixture
def base(owner, bot):
    return f"/api/v1/orgs/{owner.organization.slug}/bots/{bot.pk}/sources/"


@pytest.fixture
def public_dns(monkeypatch):
    """Names resolve to a public address (no network in these tests: nothing is fetched)."""
    monkeypatch.setattr(fetch_module, "resolve", lambda host, port: ["93.184.216.34"])


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"url": "ftp://example.com/"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://example.com/", "max_pages": 0}, "max_pages"),
        ({"url": "https://example.com/", "kind": "feed"}, "kind"),
        ({}, "url"),
    ],
)
def test_bad_input_is_400_naming_the_field(client, base, public_dns, body, fragment):
    response = client.post(base, body, format="json")
    assert response.status_code == 400, response.content
    assert fragment in response.json()["error"]["message"]
    assert not CrawlSource.objects.exists()


def test_a_private_address_is_400_without_the_allow_list(client, base, settings):
    settings.FETCH_ALLOWED_PRIVATE_NETWORKS = []
    for url in ["http://127.0.0.1:8000/", "http://localhost/", "http://10.0.0.7/docs", "http://169.254.169.254/"]:
        response = client.post(base, {"url": url}, format="json")
        assert response.status_code == 400, (url, response.content)
        error = response.json()["error"]
        assert error["code"] == "address_refused"
        assert "private or reserved address" in error["message"]
    assert not CrawlSource.objects.exists()


def test_create_queues_a_crawl_and_a_second_create_is_409(client, base, public_dns, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(base, {"url": "https://docs.example.com/", "recrawl_every_hours": 24}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["run"], body["recrawl_every_hours"], body["max_pages"]) == ("queued", 1, 24, 200)
    assert len(callbacks) == 1  # the sources.crawl publish
    again = client.post(base, {"url": "https://docs.example.com/"}, format="json")
    assert again.status_code == 409
    source_id = body["id"]
    assert client.post(f"{base}{source_id}/crawl/", {}, format="json").status_code == 409  # running
    cancelled = client.post(f"{base}{source_id}/cancel/", {}, format="json")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"  # never started
    assert client.post(f"{base}{source_id}/crawl/", {}, format="json").json()["run"] == 2


def test_resume_needs_a_cancelled_or_failed_run(client, base, bot):
    source = CrawlSourceFactory(bot=bot, status=CrawlSource.Status.FINISHED, run=1)
    response = client.post(f"{base}{source.pk}/crawl/", {"resume": True}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "not_resumable"


def test_detail_pages_and_delete(client, base, bot):
    source = CrawlSourceFactory(bot=bot, run=1, status=CrawlSource.Status.FINISHED)
    document = DocumentFactory(bot=bot, source=Document.Source.URL, url=f"{source.url}a")
    CrawlPageFactory(source=source, url=f"{source.url}a", run=1, state=CrawlPage.State.INGESTED, document=document)
    CrawlPageFactory(source=source, url=f"{source.url}b", run=1, state=CrawlPage.State.FAILED, error="HTTP 500.")
    other = DocumentFactory(bot=bot)
    detail = client.get(f"{base}{source.pk}/").json()
    assert (detail["pages_total"], detail["pages_ingested"], detail["pages_failed"]) == (2, 1, 1)
    failed = client.get(f"{base}{source.pk}/pages/", {"state": "failed"}).json()["results"]
    assert [(page["url"], page["error"]) for page in failed] == [(f"{source.url}b", "HTTP 500.")]
    assert client.get(f"{base}{source.pk}/pages/", {"state": "nope"}).status_code == 400
    assert client.delete(f"{base}{source.pk}/").status_code == 204
    assert not CrawlSource.objects.exists() and not CrawlPage.objects.exists()
    assert list(Document.objects.values_list("pk", flat=True)) == [other.pk]  # only the source's documents


def test_the_list_is_newest_first_page_after_page(client, base, bot):
    """The counts make the list a GROUP BY query, which Django runs without the model's ordering: said explicitly."""
    sources = [CrawlSourceFactory(bot=bot) for _ in range(5)]
    first = client.get(base, {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    listed = [row["id"] for page in (first, second, third) for row in page["results"]]
    assert listed == [source.pk for source in reversed(sources)]


def test_another_organizations_member_gets_404(base, bot):
    source = CrawlSourceFactory(bot=bot)
    stranger = client_for(MembershipFactory(role=Role.OWNER).user)
    for method, url in [
        ("get", base),
        ("post", base),
        ("get", f"{base}{source.pk}/"),
        ("delete", f"{base}{source.pk}/"),
        ("get", f"{base}{source.pk}/pages/"),
        ("post", f"{base}{source.pk}/crawl/"),
        ("post", f"{base}{source.pk}/cancel/"),
    ]:
        assert getattr(stranger, method)(url, {}, format="json").status_code == 404, (method, url)
    assert CrawlSource.objects.filter(pk=source.pk).exists()


def test_members_read_and_admins_write(owner, base, bot, public_dns):
    member = client_for(MembershipFactory(organization=owner.organization, role=Role.MEMBER).user)
    source = CrawlSourceFactory(bot=bot)
    assert member.get(f"{base}{source.pk}/").status_code == 200
    assert member.post(base, {"url": "https://docs.example.com/"}, format="json").status_code == 403
    assert member.delete(f"{base}{source.pk}/").status_code == 403


def test_the_sweep_starts_due_sources_only(bot, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    due = CrawlSourceFactory(bot=bot, next_crawl_at=timezone.now() - timedelta(minutes=1), run=1)
    CrawlSourceFactory(bot=bot, next_crawl_at=timezone.now() + timedelta(hours=1), run=1)
    CrawlSourceFactory(bot=bot, next_crawl_at=None)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sources_recrawl_due() == 1
    due.refresh_from_db()
    assert (due.status, due.run, due.next_crawl_at) == (CrawlSource.Status.QUEUED, 2, None)
    assert len(callbacks) == 1


def test_a_lost_crawl_task_is_queued_again(bot, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from apps.sources.services import sources_stalled_resume

    quiet = CrawlSourceFactory(bot=bot, status=CrawlSource.Status.RUNNING, run=3)
    busy = CrawlSourceFactory(bot=bot, status=CrawlSource.Status.RUNNING, run=1)
    CrawlSourceFactory(bot=bot, status=CrawlSource.Status.FINISHED, run=1)
    old = timezone.now() - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS + 60)
    CrawlSource.objects.exclude(pk=busy.pk).update(updated_at=old)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert sources_stalled_resume() == 1
    assert len(callbacks) == 1
    quiet.refresh_from_db()
    assert (quiet.status, quiet.run) == (CrawlSource.Status.RUNNING, 3)  # the same run continues
    assert quiet.updated_at > old


def test_deleting_a_source_keeps_an_upload_with_the_same_bytes(client, base, bot):
    source = CrawlSourceFactory(bot=bot, run=1, status=CrawlSource.Status.FINISHED)
    upload = DocumentFactory(bot=bot, source=Document.Source.UPLOAD)
    CrawlPageFactory(source=source, url=f"{source.url}same", run=1, state=CrawlPage.State.INGESTED, document=upload)
    assert client.delete(f"{base}{source.pk}/").status_code == 204
    assert Document.objects.filter(pk=upload.pk).exists()
