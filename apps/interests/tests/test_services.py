"""Interests services and selectors (issue 19).

Covers: replace-all per source (stated and synced never erase each other), names normalised, bad input
-> ValidationError naming the item; evidence accumulates within 0..1 with its count, last-seen time and
matched items, decays at read time (a half-life ago -> half the weight) and is hidden under the floor;
the decay purge deletes only faded decaying rows, in one statement; writes are set-based (the same query
count for 1 and 300 members); the bulk sync is all or nothing with every bad row named; every write sends
member_interests_changed in its transaction; the public selectors (list, for_users, weights,
member_ids_interested_in); the data migration from the flat User.interests.
"""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.interests import selectors, services
from apps.interests.events import member_interests_changed
from apps.interests.models import InterestCategory, InterestValue, MemberInterest, interest_name_normalise
from apps.organizations.models import Membership
from apps.organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def names(organization, user_id, **kwargs):
    return [
        (view.category, view.value, round(view.weight, 3), view.sources)
        for view in selectors.member_interest_list(organization=organization, user_id=user_id, **kwargs)
    ]


@pytest.fixture
def sent():
    calls = []

    def receiver(sender, **kwargs):
        calls.append((kwargs["organization_id"], kwargs["user_ids"]))

    member_interests_changed.connect(receiver, dispatch_uid="test-interests-sent")
    yield calls
    member_interests_changed.disconnect(dispatch_uid="test-interests-sent")


def test_set_replaces_one_source_and_normalises(organization, member, sent):
    """PUT semantics per source; names trimmed, collapsed and lower-cased; other sources untouched."""
    services.member_interests_set(
        organization=organization, user_id=member.pk, source="synced", interests=[{"value": "SQL", "weight": 0.5}]
    )
    services.member_interests_set(
        organization=organization,
        user_id=member.pk,
        source="stated",
        interests=["  Machine   Learning ", {"category": "Skills", "value": "Python", "weight": 0.8}],
    )
    assert names(organization, member.pk) == [
        ("general", "machine learning", 1.0, ["stated"]),
        ("skills", "python", 0.8, ["stated"]),
        ("general", "sql", 0.5, ["synced"]),
    ]
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=[])
    assert names(organization, member.pk) == [("general", "sql", 0.5, ["synced"])]
    assert sent == [(organization.pk, [member.pk])] * 3
    assert set(InterestCategory.objects.filter(organization=organization).values_list("name", flat=True)) == {
        "general",
        "skills",
    }


def test_an_unchanged_weight_keeps_its_row(organization, member):
    """Setting the same list again changes nothing (same row, same last-seen time)."""
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["go"])
    before = MemberInterest.objects.get()
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["go"])
    after = MemberInterest.objects.get()
    assert (after.pk, after.updated_at) == (before.pk, before.updated_at)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([{"value": ""}], "[0].value: this field may not be blank."),
        (["\u200b \ufeff"], "[0].value: this field may not be blank."),  # invisible characters only
        (["ok", {"value": "x", "weight": 2}], "[1].weight: a number from 0 to 1."),
        ([{"value": "x", "weight": True}], "[0].weight: a number from 0 to 1."),
        ([42], "[0]: expected a name or an object with value, category and weight."),
        ([{"value": "x", "category": {}}], "[0]: value and category are strings."),
        ([{"value": None}], "[0]: value and category are strings."),
        (["x" * 65], "[0]: names have at most 64 characters."),
    ],
)
def test_bad_interests_are_refused(organization, member, bad, message):
    """A ValidationError naming the item; nothing written."""
    with pytest.raises(ValidationError) as caught:
        services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=bad)
    assert caught.value.message_dict == {"interests": [message]}
    assert not MemberInterest.objects.exists()


def test_invisible_characters_are_not_part_of_a_name(organization, member):
    """A zero-width space or byte order mark counts as a space (one stored name, not look-alike twins); zero-width
    joiners stay (they shape emoji and scripts)."""
    services.member_interests_set(
        organization=organization, user_id=member.pk, source="stated", interests=["\ufeffmachine\u200blearning\u200b"]
    )
    assert [view.value for view in selectors.member_interest_list(organization=organization, user_id=member.pk)] == [
        "machine learning"
    ]
    assert interest_name_normalise("\U0001f469\u200d\U0001f4bb") == "\U0001f469\u200d\U0001f4bb"


def test_only_stated_or_synced_are_set(organization, member):
    """Inferred and chat interests come from evidence only."""
    with pytest.raises(ValidationError):
        services.member_interests_set(organization=organization, user_id=member.pk, source="chat", interests=["x"])


def test_evidence_accumulates_decays_and_is_hidden_when_faded(organization, member, settings):
    """w + s(1 - w) per new evidence; count, items (latest first); half the weight a half-life later."""
    settings.INTERESTS_DECAY_HALF_LIFE_DAYS = 10
    add = services.member_interest_evidence_add
    assert add(organization_id=organization.pk, source="chat", evidence=[(member.pk, "topics", "Data", 0.5, [3])]) == 1
    add(organization_id=organization.pk, source="chat", evidence=[(member.pk, "topics", "data", 0.5, [4, 3])])
    row = MemberInterest.objects.get()
    assert (round(row.weight, 6), row.evidence_count, row.item_ids) == (0.75, 2, [4, 3])
    [view] = selectors.member_interest_list(organization=organization, user_id=member.pk)
    assert (view.category, view.value, round(view.weight, 3), view.evidence[0].item_ids) == (
        "topics",
        "data",
        0.75,
        [4, 3],
    )
    MemberInterest.objects.update(updated_at=timezone.now() - timedelta(days=10))
    assert names(organization, member.pk) == [("topics", "data", 0.375, ["chat"])]
    # New evidence starts from the decayed weight.
    add(organization_id=organization.pk, source="chat", evidence=[(member.pk, "topics", "data", 0.2, [])])
    assert round(MemberInterest.objects.get().weight, 3) == round(0.375 + 0.2 * 0.625, 3)
    MemberInterest.objects.update(updated_at=timezone.now() - timedelta(days=100))
    assert names(organization, member.pk) == []  # under INTERESTS_MIN_WEIGHT
    assert names(organization, member.pk, min_weight=0.0) == [("topics", "data", 0.0, ["chat"])]


def test_stated_weights_do_not_decay(organization, member):
    """Only inferred and chat evidence decays."""
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["art"])
    MemberInterest.objects.update(updated_at=timezone.now() - timedelta(days=3650))
    assert names(organization, member.pk) == [("general", "art", 1.0, ["stated"])]


def test_merged_weight_is_the_strongest_source(organization, member):
    """One value, two sources: the strongest effective weight, both listed as evidence."""
    services.member_interests_set(
        organization=organization, user_id=member.pk, source="stated", interests=[{"value": "art", "weight": 0.3}]
    )
    services.member_interest_evidence_add(
        organization_id=organization.pk, source="inferred", evidence=[(member.pk, "general", "art", 0.6, [])]
    )
    assert names(organization, member.pk) == [("general", "art", 0.6, ["inferred", "stated"])]


def test_purge_deletes_only_faded_decaying_rows(organization, member, settings):
    """One DELETE: faded chat rows go; fresh chat and old stated rows stay."""
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["old"])
    services.member_interest_evidence_add(
        organization_id=organization.pk,
        source="chat",
        evidence=[(member.pk, "topics", "faded", 0.5, []), (member.pk, "topics", "fresh", 0.5, [])],
    )
    MemberInterest.objects.exclude(value__name="fresh").update(updated_at=timezone.now() - timedelta(days=3650))
    assert services.interests_decay_purge() == 1
    assert sorted(MemberInterest.objects.values_list("value__name", flat=True)) == ["fresh", "old"]


def test_writes_are_set_based(organization, django_assert_max_num_queries):
    """Evidence for 300 members costs the same statements as for one (no per-row loop)."""
    members = [MembershipFactory(organization=organization).user_id for _ in range(300)]
    with django_assert_max_num_queries(12) as one:
        services.member_interest_evidence_add(
            organization_id=organization.pk, source="inferred", evidence=[(members[0], "general", "a", 0.5, [])]
        )
    with django_assert_max_num_queries(len(one.captured_queries)):
        services.member_interest_evidence_add(
            organization_id=organization.pk,
            source="inferred",
            evidence=[(user_id, "general", f"v{n % 7}", 0.5, [n]) for n, user_id in enumerate(members)],
        )
    assert MemberInterest.objects.filter(organization=organization).count() == 301


def test_sync_is_all_or_nothing_with_every_bad_row(organization):
    """Bad interests (400 invalid), then repeated (duplicate_row) and unknown (invalid_reference) external
    ids: every bad row named, nothing written; then a good batch."""
    MembershipFactory(organization=organization, external_id="a")
    MembershipFactory(organization=organization, external_id="b")
    good = {"index": 0, "external_id": "a", "interests": ["x"]}
    with pytest.raises(ValidationError) as caught:
        services.member_interests_sync(
            organization=organization,
            rows=[good, {"index": 1, "external_id": "b", "interests": [{"value": "z", "weight": -1}, ""]}],
        )
    assert caught.value.message_dict == {
        "members": [
            "members[1].interests[0].weight: a number from 0 to 1.",
            "members[1].interests[1].value: this field may not be blank.",
        ]
    }
    with pytest.raises(ApplicationError) as caught:
        services.member_interests_sync(
            organization=organization, rows=[good, {"index": 1, "external_id": "a", "interests": []}]
        )
    assert caught.value.get_codes() == "duplicate_row"
    assert caught.value.extra == {"members": ["members[1].external_id: 'a' appears more than once (first at row 0)."]}
    with pytest.raises(ApplicationError) as caught:
        services.member_interests_sync(
            organization=organization,
            rows=[
                good,
                {"index": 1, "external_id": "nobody", "interests": []},
                {**good, "index": 2, "external_id": "c"},
            ],
        )
    assert caught.value.get_codes() == "invalid_reference"
    assert caught.value.extra == {
        "members": [
            "members[1].external_id: no member of this organization has external_id 'nobody'.",
            "members[2].external_id: no member of this organization has external_id 'c'.",
        ]
    }
    assert not MemberInterest.objects.exists()
    result = services.member_interests_sync(
        organization=organization, rows=[good, {"index": 1, "external_id": "b", "interests": ["z"]}]
    )
    assert result == {"members": 2, "interests": 2}
    assert sorted(MemberInterest.objects.values_list("user__memberships__external_id", "value__name", "source")) == [
        ("a", "x", "synced"),
        ("b", "z", "synced"),
    ]


def test_sync_of_another_organizations_external_id_is_unknown(organization, other_organization):
    """External ids are matched within the organization only."""
    MembershipFactory(organization=other_organization, external_id="theirs")
    with pytest.raises(ApplicationError):
        services.member_interests_sync(
            organization=organization, rows=[{"index": 0, "external_id": "theirs", "interests": ["x"]}]
        )


def test_selectors_for_other_apps(organization, member, admin_user, other_organization):
    """for_users (one query), weights and member_ids_interested_in, scoped to the organization."""
    services.member_interests_set(organization=organization, user_id=member.pk, source="stated", interests=["jazz"])
    services.member_interests_set(
        organization=organization, user_id=admin_user.pk, source="synced", interests=[{"value": "rock", "weight": 0.4}]
    )
    MembershipFactory(organization=other_organization, user=member)
    services.member_interests_set(
        organization=other_organization, user_id=member.pk, source="stated", interests=["opera"]
    )
    by_user = selectors.member_interests_for_users(organization=organization, user_ids=[member.pk, admin_user.pk])
    assert {user: [view.value for view in views] for user, views in by_user.items()} == {
        member.pk: ["jazz"],
        admin_user.pk: ["rock"],
    }
    assert selectors.member_interest_weights(organization_id=organization.pk, user_id=member.pk) == [
        ("jazz", "general", 1.0, [])
    ]
    assert selectors.member_ids_interested_in(organization=organization, values=["Jazz", "rock"]) == sorted(
        [member.pk, admin_user.pk]
    )
    assert selectors.member_ids_interested_in(organization=organization, values=["rock"], min_weight=0.5) == []
    assert selectors.member_ids_interested_in(organization=organization, values=["opera"]) == []


def test_data_migration_moves_the_flat_lists(organization, member, owner):
    """0002: every member's flat tags become general rows; managed accounts (no usable password) synced."""
    from django.contrib.auth import get_user_model

    User = get_user_model()
    managed = MembershipFactory(organization=organization).user
    User.objects.filter(pk=managed.pk).update(password="!unusable", interests=["Data  Science"])
    User.objects.filter(pk=member.pk).update(interests=["poetry", " ", "Poetry"])
    MemberInterest.objects.all().delete()
    migration = import_module("apps.interests.migrations.0002_interests_from_flat_list")
    migration.forward(None, SimpleNamespace(connection=connection))
    migration.forward(None, SimpleNamespace(connection=connection))  # idempotent
    assert sorted(MemberInterest.objects.values_list("user_id", "value__category__name", "value__name", "source")) == (
        sorted([(member.pk, "general", "poetry", "stated"), (managed.pk, "general", "data science", "synced")])
    )
    assert InterestValue.objects.filter(organization=organization).count() == 2
    assert Membership.objects.filter(user=owner, organization=organization).exists()
