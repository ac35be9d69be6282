import factory

from apps.organizations.models import ApiKey, Membership, Organization, Plan, Role
from apps.users.tests.factories import UserFactory

# The seeded plans (data migration 0003); re-created if a transactional test flushed them.
PLAN_DEFAULTS = {
    "free": {"name": "Free", "max_members": 5, "max_bots": 1, "max_documents_per_bot": 50, "max_file_size_mb": 10,
             "max_storage_mb": 100, "max_monthly_messages": 1000, "max_api_keys": 2, "is_default": True,
             "max_monthly_outreach_messages": 500},
    "pro": {"name": "Pro", "max_members": 50, "max_bots": 10, "max_documents_per_bot": 1000, "max_file_size_mb": 50,
            "max_storage_mb": 5000, "max_monthly_messages": 50000, "max_api_keys": 20,
            "max_monthly_outreach_messages": 50000},
    "enterprise": {"name": "Enterprise", "max_file_size_mb": 200},
}  # fmt: skip


def plan(code: str = "free") -> Plan:
    return Plan.objects.get_or_create(code=code, defaults=PLAN_DEFAULTS[code])[0]


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")
    plan = factory.LazyFunction(lambda: plan("pro"))


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


def api_key_for(organization, scopes=("read", "write"), **kwargs) -> tuple[ApiKey, str]:
    from apps.organizations.services import api_key_create

    return api_key_create(organization=organization, name=kwargs.pop("name", "test key"), scopes=list(scopes), **kwargs)
