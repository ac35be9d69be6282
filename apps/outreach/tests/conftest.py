"""Fixtures of the outreach tests: a small catalog and members with interests and progress, and the fake
language model at the HTTP transport (the chat tests' FakeLLM; nothing else is faked)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.conversations.tests.fixtures import llm, offline  # noqa: F401 (fixtures)
from apps.conversations.tests.utils import completion
from apps.interests.services import member_interests_set
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.progress.tests.factories import ContentItemFactory, InteractionFactory, ProgressFactory
from apps.users.tests.factories import UserFactory


def copy_reply(item_ids, *, intro="Pick up where you left off.", line="A good next step.", subject="Your next step"):
    """A chat.completion whose content is the outreach JSON naming `item_ids`."""
    payload = {
        "subject": subject, "greeting": "Hi Ann,", "intro": intro,
        "items": [{"item_id": item_id, "line": line} for item_id in item_ids], "closing": "Cheers,",
    }  # fmt: skip
    return completion(json.dumps(payload))


class World:
    """An organization with a catalog (one priced item) and three members:
    ann (interested in python, half way through "Python Foundations", active today),
    bob (interested in design, nothing started, inactive for 60 days),
    cy (no interests, completed "Python Foundations")."""

    def __init__(self):
        now = timezone.now()
        self.organization = OrganizationFactory(name="Acme Academy")
        self.admin = MembershipFactory(organization=self.organization, role=Role.ADMIN).user
        self.python = ContentItemFactory(
            organization=self.organization, title="Python Foundations", url="https://learn.example/python",
            tags=["python"],
        )  # fmt: skip
        self.advanced = ContentItemFactory(
            organization=self.organization, title="Advanced Python Patterns", url="https://learn.example/adv",
            tags=["python"], metadata={"price": 49},
        )  # fmt: skip
        self.design = ContentItemFactory(organization=self.organization, title="Design Systems Basics", tags=["design"])
        self.other = ContentItemFactory(
            organization=self.organization, title="Kubernetes In Production", tags=["ops"]
        )  # fmt: skip
        self.ann = UserFactory(full_name="Ann Lee")
        self.bob = UserFactory(full_name="Bob Ray")
        self.cy = UserFactory(full_name="Cy Po")
        for user in (self.ann, self.bob, self.cy):
            MembershipFactory(organization=self.organization, user=user, role=Role.MEMBER)
        # Structured interests (apps/interests), as the member stated them; cy has none.
        member_interests_set(organization=self.organization, user_id=self.ann.pk, interests=["python"], source="stated")
        member_interests_set(organization=self.organization, user_id=self.bob.pk, interests=["design"], source="synced")
        ProgressFactory(
            organization=self.organization, item=self.python, user=self.ann, status="in_progress", percent=50,
            started_at=now, last_activity_at=now,
        )  # fmt: skip
        ProgressFactory(
            organization=self.organization, item=self.python, user=self.cy, status="completed", percent=100,
            started_at=now - timedelta(days=3), completed_at=now - timedelta(days=2), last_activity_at=now,
        )  # fmt: skip
        InteractionFactory(organization=self.organization, item=self.python, user=self.ann, kind="start")
        InteractionFactory(
            organization=self.organization, item=self.design, user=self.bob, occurred_at=now - timedelta(days=60)
        )
        InteractionFactory(organization=self.organization, item=self.python, user=self.cy, kind="complete")


@pytest.fixture
def world(db):
    return World()
