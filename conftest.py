"""Fixtures shared by every app's tests. The database, cache and broker are the real embedded ones."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.users.api.serializers import token_pair
from apps.users.tests.factories import UserFactory

# `make test`'s lanes in pytest-xdist workers (docs/testing.md, Lanes).
pytest_plugins = ["apps.core.tests.lanes"]


def pytest_sessionstart(session):
    """Read the database server's time-zone names before collection. The OpenAPI schema lists them
    (apps.core.fields.time_zones, read once per process) and some test modules build the schema when
    they are collected, while pytest-django still blocks database access."""
    from django.db import connections
    from pytest_django.plugin import blocking_manager_key

    from apps.core.fields import time_zones

    with session.config.stash[blocking_manager_key].unblock():
        time_zones()
        connections.close_all()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Re-seed the plans of data migration 0003: with --reuse-db, a transactional test (which
    pytest-django runs last) leaves the tables flushed for the next session."""
    import importlib

    from django.apps import apps

    with django_db_blocker.unblock():
        importlib.import_module("apps.organizations.migrations.0003_seed_plans").seed(apps, None)
        importlib.import_module("apps.organizations.migrations.0006_plan_max_monthly_outreach_messages").seed(
            apps, None
        )


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and cached values of one test never leak into the next (real Redis:
    FLUSHDB of the test cache's own database, never the broker's), nor do the API key rows that
    authentication keeps for API_KEY_CACHE_SECONDS (a test's rows are rolled back after it)."""
    from apps.organizations.selectors import api_key_forget

    cache.clear()
    api_key_forget()
    yield


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Counts the Redis round trips of this process (cache, throttles and broker alike): one per packed write,
    which is one per command, pipeline or script call. The fixture's value answers the count so far."""
    from redis.connection import AbstractConnection

    count = 0
    send = AbstractConnection.send_packed_command

    def counted(self, *args, **kwargs):
        nonlocal count
        count += 1
        return send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return lambda: count


def client_for(user) -> APIClient:
    """An APIClient sending `user`'s JWT access token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair(user)['access']}")
    return client


@pytest.fixture
def staff_client(db):
    """A Django test client signed in to the admin as a superuser."""
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def owner(organization):
    return MembershipFactory(organization=organization, role=Role.OWNER).user


@pytest.fixture
def admin_user(organization):
    return MembershipFactory(organization=organization, role=Role.ADMIN).user


@pytest.fixture
def member(organization):
    return MembershipFactory(organization=organization, role=Role.MEMBER).user


@pytest.fixture
def other_organization(db):
    """Organization B of the tenancy tests, with its own owner."""
    org = OrganizationFactory()
    MembershipFactory(organization=org, role=Role.OWNER)
    return org


@pytest.fixture
def celery_worker():
    """A real Celery worker (in a thread) consuming every queue from the embedded Redis broker, emptied first.

    Request it before `db`/`transactional_db`: Celery's Django fixup closes the database
    connections of the thread that starts the worker. Tasks run in the worker's own thread and
    connection, so tests that cross it need committed data (django_db(transaction=True)).
    """
    from apps.core.metrics import queue_names
    from config.celery_app import app

    queues = queue_names()  # the default queue and every routed one
    # Tasks an earlier test enqueued without a worker (or a run stopped halfway left) are not this test's: the
    # worker starts on empty queues (kombu's purge drops every priority list of a queue).
    with app.connection_for_write() as connection:
        for queue in queues:
            connection.default_channel.queue_purge(queue)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20, queues=queues) as worker:
        yield worker


@pytest.fixture
def browser():
    """Headless Chromium (see apps/core/tests/browser.py), closed after the test."""
    from playwright.sync_api import sync_playwright

    from apps.core.tests.browser import ARGS, CHROMIUM

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def mail_sent():
    """The e-mails this test's requests asked for, as Django's `mail.outbox` once the `mail.*` tasks they published
    to the real broker are carried out (apps/core/tests/mail.py); the broker's are removed afterwards."""
    from apps.core.tests.mail import MailSent

    sent = MailSent()
    yield sent
    sent.clear()
