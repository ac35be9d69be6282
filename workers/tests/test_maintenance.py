"""Maintenance tasks, called directly with primitives (STYLE: no eager mode)."""

from datetime import timedelta

from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from apps.organizations.models import Invitation, Role
from apps.organizations.services import invitation_create
from apps.organizations.tests.factories import MembershipFactory
from apps.users.api.serializers import token_pair
from workers.tasks import maintenance


def test_invitations_purge_expired_task(db):
    """Invitations expired past the cutoff are deleted; fresh ones stay; a rerun deletes nothing."""
    owner = MembershipFactory(role=Role.OWNER)
    old = invitation_create(organization=owner.organization, email="old@example.com", role="member", actor=owner)
    fresh = invitation_create(organization=owner.organization, email="new@example.com", role="member", actor=owner)
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=40))
    assert maintenance.invitations_purge_expired(30) == 1
    assert list(Invitation.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert maintenance.invitations_purge_expired(30) == 0


def test_jwt_flush_expired_task(user):
    """Expired outstanding refresh tokens are flushed; live ones are kept."""
    token_pair(user)
    token_pair(user)
    OutstandingToken.objects.filter(pk=OutstandingToken.objects.first().pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    maintenance.jwt_flush_expired()
    assert OutstandingToken.objects.count() == 1
    assert OutstandingToken.objects.get().expires_at > timezone.now()
