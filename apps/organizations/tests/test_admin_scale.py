"""The organization's change page at a real customer's size: no inline of every member (20,000 members drew
20,000 inline forms, three queries each: 163 s, and a form past DATA_UPLOAD_MAX_NUMBER_FIELDS that could not be
saved). The members panel counts them by role and links to the membership list and add page; the page's
queries do not grow with the members, and the organization still saves."""

import pytest
from django.urls import reverse

from apps.core.tests.admin_pages import change_page
from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_the_change_page_counts_members_in_constant_queries(staff_client, organization):
    MembershipFactory(organization=organization, role=Role.OWNER)
    change_page(staff_client, organization)  # the first request of the session loads what later ones find cached
    _text, few = change_page(staff_client, organization)
    MembershipFactory.create_batch(20, organization=organization, role=Role.MEMBER)
    MembershipFactory(organization=organization, role=Role.ADMIN)

    text, many = change_page(staff_client, organization)

    assert many == few
    assert "memberships-TOTAL_FORMS" not in text  # no membership formset
    assert "22 (1 owners, 1 admins, 20 members)" in text
    changelist = reverse("admin:organizations_membership_changelist")
    assert f'href="{changelist}?organization__id__exact={organization.pk}"' in text
    assert f'href="{reverse("admin:organizations_membership_add")}?organization={organization.pk}"' in text


def test_the_membership_list_filtered_on_the_organization_and_the_add_page_answer(staff_client, organization):
    member = MembershipFactory(organization=organization, role=Role.MEMBER)
    MembershipFactory(role=Role.MEMBER)  # another organization's

    listed = staff_client.get(
        reverse("admin:organizations_membership_changelist"), {"organization__id__exact": organization.pk}
    )
    add = staff_client.get(reverse("admin:organizations_membership_add"), {"organization": organization.pk})

    assert listed.status_code == 200 and listed.context["cl"].result_count == 1
    assert member.user.email in listed.content.decode()
    assert add.status_code == 200 and add.context["adminform"].form.initial["organization"] == str(organization.pk)


def test_the_organization_still_saves(staff_client, organization):
    MembershipFactory.create_batch(3, organization=organization)
    url = reverse("admin:organizations_organization_change", args=[organization.pk])

    response = staff_client.post(
        url, {"name": "Renamed", "slug": organization.slug, "plan": organization.plan_id, "_save": "Save"}
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    organization.refresh_from_db()
    assert organization.name == "Renamed"
