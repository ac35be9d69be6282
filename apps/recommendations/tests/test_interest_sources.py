"""The `interests` source matches a member's interests to catalog tags and, case-insensitively, categories
(engine/interest_sources.py) through the GIN indexes (progress migration 0002): at 20,000 items the categories
branch made every ranking scan the whole catalog (30 ms a member), the index reads only the matching rows."""

from __future__ import annotations

from django.db import connection, transaction

from apps.interests.services import member_interests_set
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.tests.factories import ContentItemFactory
from apps.recommendations.engine.interest_sources import MATCH_SQL, source_interests
from apps.recommendations.engine.sources import user_context_load


def test_interests_match_tags_and_categories_in_any_case(organization):
    tagged = ContentItemFactory(organization=organization, title="Python basics", tags=["python"])
    categorised = ContentItemFactory(organization=organization, title="Frames", tags=[], categories=["Data Science"])
    ContentItemFactory(organization=organization, title="Knitting", tags=["crafts"], categories=["Hobbies"])
    ContentItemFactory(organization=organization, title="Old", tags=["python"], active=False)
    member = MembershipFactory(organization=organization, role=Role.MEMBER).user
    member_interests_set(
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
