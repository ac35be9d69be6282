"""Factories of the boards tests; a goal's member belongs to its organization."""

import factory

from apps.boards.models import Goal
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory


class GoalFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Goal

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.LazyAttribute(lambda o: MembershipFactory(organization=o.organization, role=Role.MEMBER).user)
    text = factory.Sequence(lambda n: f"Reach goal number {n}")
