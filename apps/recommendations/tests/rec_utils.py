"""A small catalog with real taste structure for the engine and API tests (issue 7).

Three topic clusters (data articles, cooking videos, music podcasts), one blockbuster everybody
likes, a Python course with ordered lessons, and an advanced item whose prerequisite is the last
lesson. Data fans like data items, cooks like cooking items; embeddings are the real local model's
(computed with the catalog service), so content similarity means what it says.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.models import ContentPrerequisite, InteractionKind
from apps.progress.services import content_embed, interaction_create
from apps.progress.tests.factories import ContentItemFactory

DATA = [
    "Intro to pandas dataframes", "Cleaning messy CSV data", "SQL joins for analysts", "Plotting data with matplotlib",
    "Statistics for data science", "Time series forecasting basics",
]  # fmt: skip
COOKING = [
    "Baking sourdough bread", "Knife skills for home cooks", "Perfect pasta from scratch", "Roasting vegetables",
    "Making fresh pesto sauce", "Grilling steak at home",
]  # fmt: skip
MUSIC = [
    "Guitar chords for beginners", "Jazz piano improvisation", "Music theory: scales", "Songwriting workshop",
    "Drumming rhythms 101", "Recording vocals at home",
]  # fmt: skip


def build_world(organization, *, embed: bool = True) -> dict:
    now = timezone.now()
    items = {}
    for index, title in enumerate(DATA):
        items[title] = ContentItemFactory(
            organization=organization, title=title, kind="article", tags=["data"], categories=["analytics"],
            difficulty=2 + index % 2,
        )  # fmt: skip
    for index, title in enumerate(COOKING):
        items[title] = ContentItemFactory(
            organization=organization, title=title, kind="video", tags=["cooking"], categories=["food"],
            difficulty=1 + index % 2,
        )  # fmt: skip
    for title in MUSIC:
        items[title] = ContentItemFactory(
            organization=organization, title=title, kind="podcast", tags=["music"], categories=["arts"]
        )
    blockbuster = ContentItemFactory(
        organization=organization, title="Productivity habits that stick", kind="article", tags=["habits"]
    )
    course = ContentItemFactory(organization=organization, title="Python Course", kind="course", tags=["python"])
    lessons = [
        ContentItemFactory(
            organization=organization,
            title=f"Python lesson {n}",
            kind="lesson",
            parent=course,
            position=n,
            tags=["python"],
            difficulty=2,
        )
        for n in (1, 2, 3)
    ]
    advanced = ContentItemFactory(
        organization=organization, title="Advanced Python metaprogramming", kind="article", tags=["python"],
        difficulty=3,
    )  # fmt: skip
    ContentPrerequisite.objects.create(organization=organization, item=advanced, prerequisite=lessons[2])
    if embed:
        content_embed(organization_id=organization.pk, item_ids=list(
            type(blockbuster).objects.filter(organization=organization).values_list("id", flat=True)
        ))  # fmt: skip

    data_fans = [MembershipFactory(organization=organization, role=Role.MEMBER).user for _ in range(5)]
    cooks = [MembershipFactory(organization=organization, role=Role.MEMBER).user for _ in range(5)]
    clock = [now - timedelta(days=30)]

    def like(user, item, kind=InteractionKind.LIKE):
        clock[0] += timedelta(minutes=7)
        interaction_create(organization=organization, user=user, item=item, kind=kind, occurred_at=clock[0])

    for n, user in enumerate(data_fans):
        for title in DATA[: 3 + n % 3]:
            like(user, items[title])
        like(user, blockbuster)
    for n, user in enumerate(cooks):
        for title in COOKING[: 3 + n % 3]:
            like(user, items[title])
        like(user, blockbuster)
    return {
        "items": items, "blockbuster": blockbuster, "course": course, "lessons": lessons, "advanced": advanced,
        "data_fans": data_fans, "cooks": cooks, "like": like,
    }  # fmt: skip
