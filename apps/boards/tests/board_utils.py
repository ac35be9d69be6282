"""A member with a history for the board tests: a catalog (two items with a catalog image URL, one
broken), interests, three completed lessons on consecutive days (a 3-day streak) and a goal. Images are
served by a real HTTP server on 127.0.0.1 (apps/core/tests/local_site.py); only the language model's
HTTP transport is ever faked."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from PIL import Image

from apps.boards.services import goal_create
from apps.interests.services import member_interests_set
from apps.organizations.models import Membership, Role
from apps.organizations.tests.factories import MembershipFactory
from apps.progress.models import ContentKind
from apps.progress.services.tracking import progress_complete
from apps.progress.tests.factories import ContentItemFactory
from apps.users.tests.factories import UserFactory


def png_bytes(size=(320, 200), color=(250, 160, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Scene:
    membership: Membership
    done: list
    todo: list

    @property
    def user(self):
        return self.membership.user


def scene(organization, *, site=None) -> Scene:
    """The member and their history (module docstring); `site`: a LocalSite serving /cover.png."""
    user = UserFactory(full_name="Ada Lovelace")
    membership = MembershipFactory(organization=organization, user=user, role=Role.MEMBER)
    # Structured interests (apps/interests): stated with weights, one synced by the organization.
    member_interests_set(
        organization=organization, user_id=user.pk, source="stated",
        interests=[{"value": "cooking", "weight": 0.6}, {"value": "data", "weight": 0.4}],
    )  # fmt: skip
    member_interests_set(organization=organization, user_id=user.pk, source="synced", interests=["python"])
    done = [
        ContentItemFactory(organization=organization, title=f"Python basics {n}", tags=["python"], categories=["code"])
        for n in range(1, 4)
    ]
    images = {}
    if site is not None:
        images = {0: site.url("/cover.png"), 1: site.url("/missing.png")}
    todo = [
        ContentItemFactory(
            organization=organization,
            title=title,
            kind=ContentKind.COURSE,
            tags=tags,
            categories=["code"],
            metadata={"image_url": images[index]} if index in images else {},
        )
        for index, (title, tags) in enumerate(
            [
                ("Data analysis with pandas", ["python", "data"]),
                ("Plotting for people", ["data"]),
                ("Testing your code", ["python"]),
                ("SQL from scratch", ["data"]),
            ]
        )
    ]
    now = timezone.now()
    for days_ago, item in zip((2, 1, 0), done, strict=True):
        progress_complete(organization=organization, user=user, item=item, at=now - timedelta(days=days_ago))
    # Another member's history, so the recommender has co-occurrences to draw on.
    other = MembershipFactory(organization=organization, role=Role.MEMBER).user
    for item in [*done, *todo[:2]]:
        progress_complete(organization=organization, user=other, item=item, at=now - timedelta(days=3))
    goal_create(
        membership=membership, text="Become a data analyst", target_items=[todo[0].pk, todo[3].pk],
        target_date=(now + timedelta(days=120)).date(),
    )  # fmt: skip
    membership.refresh_from_db()
    return Scene(
        membership=Membership.objects.select_related("organization", "user").get(pk=membership.pk), done=done, todo=todo
    )
