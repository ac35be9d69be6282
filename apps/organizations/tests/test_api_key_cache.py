"""API key rows kept by a process for API_KEY_CACHE_SECONDS (selectors.api_key_get_by_prefix, receivers.py).

Authentication reads the key's row again only after that time: what this proves, on the real database:
- a second authentication within the time runs no query, yet every call gets objects of its own (a caller that
  changes its key, organization or scopes list changes nothing another caller sees);
- the secret and the expiry are still checked on every call (a kept row does not let a wrong secret in; an
  expiry passing while the row is kept is refused);
- a change made in this process (revocation through the service, an organization's plan, a key deleted) is
  read at once, also when the row was read again between the write and its commit;
- a change made elsewhere (an update() that fires no receiver, as another process's write) is read once the
  kept row is API_KEY_CACHE_SECONDS old (the process clock moved forward), and at once with 0;
- unknown prefixes are not kept (each one is asked of the database; a flood of them fills nothing), and the
  kept rows are bounded (RECENT_LIMIT).
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from apps.organizations import selectors
from apps.organizations.models import ApiKey
from apps.organizations.services import api_key_authenticate, api_key_revoke
from apps.organizations.tests.factories import OrganizationFactory, api_key_for, plan

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch):
    """The selectors' clock, moved forward by hand."""
    now = [1000.0]
    monkeypatch.setattr(selectors, "_clock", lambda: now[0])
    return now


def test_a_key_read_again_within_the_time_runs_no_query(django_assert_num_queries):
    api_key, key = api_key_for(OrganizationFactory())
    first = api_key_authenticate(key=key)  # reads the row, writes last_used_at, reads the row again next time

    api_key_authenticate(key=key)
    with django_assert_num_queries(0):
        second = api_key_authenticate(key=key)
        third = api_key_authenticate(key=key)

    assert first.pk == second.pk == third.pk == api_key.pk
    assert second is not third and second.organization is not third.organization
    second.scopes.append("admin")
    second.organization.name = "changed by one caller"
    assert api_key_authenticate(key=key).scopes == ["read", "write"]
    assert third.organization.name != "changed by one caller"


def test_a_kept_row_still_checks_the_secret_and_the_expiry(monkeypatch, django_assert_num_queries):
    expires_at = timezone.now() + timedelta(minutes=1)
    api_key, key = api_key_for(OrganizationFactory(), expires_at=expires_at)
    api_key_authenticate(key=key)
    api_key_authenticate(key=key)

    with django_assert_num_queries(0):
        with pytest.raises(AuthenticationFailed, match="Invalid API key"):
            api_key_authenticate(key=f"bk_{api_key.prefix}_wrong")
        monkeypatch.setattr(timezone, "now", lambda: expires_at + timedelta(seconds=1))  # the expiry passes
        with pytest.raises(AuthenticationFailed, match="This API key has expired"):
            api_key_authenticate(key=key)


def test_revoking_in_this_process_is_refused_at_once():
    api_key, key = api_key_for(OrganizationFactory())
    api_key_authenticate(key=key)
    api_key_authenticate(key=key)  # the row is kept from here

    api_key_revoke(api_key=api_key)

    with pytest.raises(AuthenticationFailed, match="This API key has been revoked"):
        api_key_authenticate(key=key)


def test_an_organization_change_and_a_deleted_key_are_read_at_once():
    organization = OrganizationFactory(plan=plan("free"))
    api_key, key = api_key_for(organization)
    api_key_authenticate(key=key)
    assert api_key_authenticate(key=key).organization.plan_id == plan("free").pk  # kept from here

    organization.plan = plan("pro")
    organization.save()
    assert api_key_authenticate(key=key).organization.plan_id == plan("pro").pk

    ApiKey.objects.get(pk=api_key.pk).delete()
    with pytest.raises(AuthenticationFailed, match="Invalid API key"):
        api_key_authenticate(key=key)


def test_a_row_read_between_a_write_and_its_commit_is_dropped_on_commit(django_capture_on_commit_callbacks):
    organization = OrganizationFactory(plan=plan("free"))
    _api_key, key = api_key_for(organization)
    api_key_authenticate(key=key)

    with django_capture_on_commit_callbacks(execute=True):
        organization.plan = plan("pro")
        organization.save()
        api_key_authenticate(key=key)  # another request's read before the commit: kept again
        assert selectors._recent  # the row is kept until the commit

    assert not selectors._recent


def test_a_write_elsewhere_is_read_once_the_kept_row_is_old(clock, settings):
    api_key, key = api_key_for(OrganizationFactory())
    api_key_authenticate(key=key)  # records the use, so the row is read again
    api_key_authenticate(key=key)  # and kept from here
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())  # no receiver: another process

    clock[0] += settings.API_KEY_CACHE_SECONDS - 0.5
    assert api_key_authenticate(key=key).pk == api_key.pk  # the documented delay
    clock[0] += 0.5
    with pytest.raises(AuthenticationFailed, match="This API key has been revoked"):
        api_key_authenticate(key=key)


def test_zero_reads_the_row_every_time(settings, django_assert_num_queries):
    settings.API_KEY_CACHE_SECONDS = 0
    api_key, key = api_key_for(OrganizationFactory())
    api_key_authenticate(key=key)

    with django_assert_num_queries(1):
        api_key_authenticate(key=key)
    ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=timezone.now())
    with pytest.raises(AuthenticationFailed, match="This API key has been revoked"):
        api_key_authenticate(key=key)
    assert not selectors._recent


def test_unknown_prefixes_are_not_kept(django_assert_num_queries):
    with django_assert_num_queries(2):
        for _ in range(2):
            with pytest.raises(AuthenticationFailed, match="Invalid API key"):
                api_key_authenticate(key="bk_ffffffff_secret")
    assert not selectors._recent


def test_the_kept_rows_are_bounded(monkeypatch):
    """At RECENT_LIMIT rows the process starts over: a process serving many keys holds at most that many."""
    monkeypatch.setattr(selectors, "RECENT_LIMIT", 2)
    organization = OrganizationFactory()
    keys = [api_key_for(organization, name=f"k{n}")[1] for n in range(3)]
    for key in keys:
        api_key_authenticate(key=key)  # records the use (the row is read again next time)
        api_key_authenticate(key=key)  # kept
        assert len(selectors._recent) <= 2
    assert list(selectors._recent) == [keys[2].split("_")[1]]
