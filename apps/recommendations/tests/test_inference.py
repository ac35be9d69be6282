"""Interests inferred from behaviour (issue 19 item 1): the beat job's service on a real catalog.

Covers: members' positive interactions grouped by catalog tag, scaled to 0..1 by the member's strongest
(data fans: "data" 1.0, the blockbuster's "habits" weaker), written as `inferred` general interests with
the evidence count, items and the last interaction as last-seen time; a rerun writes the same rows
(idempotent); members with no recent behaviour keep theirs; dismissals and non-members count nothing;
the inferred interest feeds the interests source ("Because you are interested in data"); the beat task
runs every organization with recent interactions.
"""

from __future__ import annotations

import pytest

from apps.interests.models import MemberInterest
from apps.interests.selectors import member_interest_list
from apps.organizations.models import Membership
from apps.progress.models import Interaction, InteractionKind
from apps.progress.services import interaction_create
from apps.recommendations.inference import interests_infer
from apps.recommendations.tests.rec_utils import DATA, build_world
from workers.tasks.interests import interests_infer_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(organization):
    return {**build_world(organization, embed=False), "organization": organization}


def inferred(user):
    return {
        row.value.name: row
        for row in MemberInterest.objects.filter(user=user, source="inferred").select_related("value__category")
    }


def test_behaviour_becomes_inferred_interests(world):
    """A data fan: "data" at 1.0 with its items, "habits" weaker; the last like is the last-seen time."""
    organization, fan = world["organization"], world["data_fans"][0]
    written = interests_infer(organization_id=organization.pk)
    assert written == MemberInterest.objects.filter(organization=organization, source="inferred").count() > 0
    rows = inferred(fan)
    assert set(rows) == {"data", "habits"}
    data, habits = rows["data"], rows["habits"]
    assert data.weight == 1.0 and 0 < habits.weight < 1
    assert data.value.category.name == "general" and data.evidence_count == 3
    assert set(data.item_ids) == {world["items"][title].pk for title in DATA[:3]}
    last_like = Interaction.objects.filter(user=fan, item__tags__contains=["data"]).latest("occurred_at")
    assert data.updated_at == last_like.occurred_at
    snapshot = sorted(MemberInterest.objects.values_list("user_id", "value_id", "weight", "updated_at"))
    interests_infer(organization_id=organization.pk)
    assert sorted(MemberInterest.objects.values_list("user_id", "value_id", "weight", "updated_at")) == snapshot


def test_dismissals_and_outsiders_count_nothing(world, member, other_organization):
    """A dismissed item adds no interest; someone outside the organization gets none."""
    organization, items = world["organization"], world["items"]
    outsider = Membership.objects.filter(organization=other_organization).first().user
    interaction_create(organization=organization, user=member, item=items[DATA[0]], kind=InteractionKind.DISMISS)
    interaction_create(organization=organization, user=outsider, item=items[DATA[0]], kind=InteractionKind.LIKE)
    interests_infer(organization_id=organization.pk)
    assert inferred(member) == {} and inferred(outsider) == {}


def test_inferred_interests_feed_the_interests_source(world):
    """A cook who never saw data items but whose inferred interests say "cooking" gets cooking reasons."""
    from apps.recommendations.engine.interest_sources import source_interests
    from apps.recommendations.engine.sources import user_context_load

    organization, cook = world["organization"], world["cooks"][0]
    interests_infer(organization_id=organization.pk)
    strongest = member_interest_list(organization=organization, user_id=cook.pk)[0]
    assert strongest.value == "cooking"
    context = user_context_load(organization_id=organization.pk, user_id=cook.pk)
    result = source_interests(context, limit=50)
    assert result.candidates.ids.size and set(result.evidence.values()) <= {
        "Because you are interested in cooking",
        "Because you are interested in habits",
    }


def test_the_beat_task_covers_every_active_organization(world):
    """Called directly (as the worker would): every organization with recent interactions."""
    assert interests_infer_task() == MemberInterest.objects.filter(source="inferred").count() > 0
