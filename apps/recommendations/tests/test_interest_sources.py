"""The interests and chat sources (issue 19 item 1, issue 18 item 6) through GET recommendations/.

Covers: a member without history who states an interest gets the catalog items tagged with it, with
source `interests` and the reason "Because you are interested in X" (without the interest, none of them
in the same top list); the cached list is dropped when the interests change; chat evidence recommends
the very items a question matched first, "Because you asked about X"; decayed evidence is not used;
completed items stay out; the match reads the GIN indexes on tags and on the lower-cased categories (progress
migration 0003), never the whole catalog (at 20,000 items the categories branch scanned it: 30 ms a member).
"""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.interests import services
from apps.interests.models import MemberInterest
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.models import InteractionKind
from apps.progress.services import interaction_create
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.engine.interest_sources import MATCH_SQL, source_interests
from apps.recommendations.engine.sources import user_context_load
from apps.recommendations.services import recommender_train
from apps.recommendations.tests.rec_utils import MUSIC, build_world
from conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(organization):
    built = build_world(organization)
    recommender_train(organization_id=organization.pk)
    return {**built, "organization": organization}


def top(user, organization, limit=8):
    response = client_for(user).get(f"/api/v1/orgs/{organization.slug}/recommendations/", {"limit": limit})
    assert response.status_code == 200, response.content
    return response.json()


def test_stated_interest_recommends_tagged_items_with_reason(world, django_capture_on_commit_callbacks):
    """Cold member + "music": the six music items, each explained by the interest."""
    organization = world["organization"]
    newcomer = MembershipFactory(organization=organization, role=Role.MEMBER).user
    before = top(newcomer, organization)
    assert not {e["item"]["title"] for e in before["results"]} & set(MUSIC)
    with django_capture_on_commit_callbacks(execute=True):
        services.member_interests_set(
            organization=organization, user_id=newcomer.pk, source="stated", interests=["Music"]
        )
    after = top(newcomer, organization)
    assert after["cached"] is False  # member_interests_changed dropped the cached list
    music = [e for e in after["results"] if e["item"]["title"] in MUSIC]
    assert {e["item"]["title"] for e in music} == set(MUSIC)
    assert {(e["source"], e["reason"]) for e in music} == {("interests", "Because you are interested in music")}


def test_chat_evidence_recommends_the_matched_item_first(world):
    """Chat topic "music" matched "Jazz piano improvisation": that item leads, "Because you asked about music"."""
    organization, items = world["organization"], world["items"]
    newcomer = MembershipFactory(organization=organization, role=Role.MEMBER).user
    jazz = items["Jazz piano improvisation"]
    services.member_interest_evidence_add(
        organization_id=organization.pk, source="chat", evidence=[(newcomer.pk, "topics", "music", 0.6, [jazz.pk])]
    )
    results = top(newcomer, organization)["results"]
    music = [e for e in results if e["item"]["title"] in MUSIC]
    assert music[0]["item"]["id"] == jazz.pk
    assert {(e["source"], e["reason"]) for e in music} == {("chat", "Because you asked about music")}


def test_faded_evidence_and_completed_items_are_not_recommended(world):
    """Chat evidence a year old is below the floor; an item completed is never recommended."""
    organization, items = world["organization"], world["items"]
    newcomer = MembershipFactory(organization=organization, role=Role.MEMBER).user
    services.member_interest_evidence_add(
        organization_id=organization.pk, source="chat", evidence=[(newcomer.pk, "topics", "music", 0.6, [])]
    )
    MemberInterest.objects.update(updated_at=timezone.now() - timedelta(days=365))
    assert not [e for e in top(newcomer, organization)["results"] if e["source"] == "chat"]
    services.member_interests_set(organization=organization, user_id=newcomer.pk, source="stated", interests=["music"])
    done = items[MUSIC[0]]
    interaction_create(organization=organization, user=newcomer, item=done, kind=InteractionKind.COMPLETE)
    ids = {e["item"]["id"] for e in top(newcomer, organization, limit=30)["results"]}
    assert done.pk not in ids and {items[t].pk for t in MUSIC[1:]} <= ids


def test_interests_match_tags_and_categories_in_any_case(organization):
    tagged = ContentItemFactory(organization=organization, title="Python basics", tags=["python"])
    categorised = ContentItemFactory(organization=organization, title="Frames", tags=[], categories=["Data Science"])
    ContentItemFactory(organization=organization, title="Knitting", tags=["crafts"], categories=["Hobbies"])
    ContentItemFactory(organization=organization, title="Old", tags=["python"], active=False)
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    services.member_interests_set(
        organization=organization, user_id=member.pk, interests=["python", "data science"], source="stated"
    )
    context = user_context_load(organization_id=organization.pk, user_id=member.pk)
    result = source_interests(context, limit=10)
    assert set(result.candidates.ids.tolist()) == {tagged.pk, categorised.pk}
    assert result.evidence[categorised.pk] == "Because you are interested in data science"
    assert result.evidence[tagged.pk] == "Because you are interested in python"


def test_the_match_reads_the_indexes_not_the_whole_catalog(db):
    """The source's catalog predicate is the indexed expression, and PostgreSQL can answer it from the index (with
    sequential scans priced out); `lower(categories::text)::text[]`, as before, could only be checked row by row."""
    predicate = "content_categories_lower(c.categories) && %(names)s::text[]"
    assert predicate in MATCH_SQL and "c.tags && %(names)s::varchar[]" in MATCH_SQL
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT c.id FROM progress_contentitem c WHERE c.tags && %(names)s::varchar[] OR " + predicate,
            {"names": ["python", "data science"]},
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "content_categories_lower_gin" in plan and "content_tags_gin" in plan, plan
    assert "Seq Scan" not in plan, plan
