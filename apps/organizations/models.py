import hashlib
import secrets

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from apps.core.models import TimeStampedModel


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


ROLE_RANK = {Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Plan(models.Model):
    """Limits of a subscription tier. A null limit means unlimited. Seeded by a data migration."""

    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    max_members = models.PositiveIntegerField(null=True, blank=True)
    max_bots = models.PositiveIntegerField(null=True, blank=True)
    max_documents_per_bot = models.PositiveIntegerField(null=True, blank=True)
    max_file_size_mb = models.PositiveIntegerField(null=True, blank=True)
    max_storage_mb = models.PositiveIntegerField(null=True, blank=True)
    max_monthly_messages = models.PositiveIntegerField(null=True, blank=True)
    max_api_keys = models.PositiveIntegerField(null=True, blank=True)
    # Issue 19: outreach e-mails generated per calendar month (campaign messages, docs/outreach.md).
    max_monthly_outreach_messages = models.PositiveIntegerField(null=True, blank=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_plan")
        ]

    def __str__(self):
        return self.name


class OrganizationManager(models.Manager):
    """The organizations that exist for everyone: one being deleted (`deleted_at` set) is purged in the background
    (docs/api.md#deleting-an-organization) and is gone for the API, the widget, the admin and every other app from
    the moment its owner deletes it. `Organization.all_objects` (the purge, the recovery sweep) sees it."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Organization(TimeStampedModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="organizations")
    # Issue 8: personality profiles are sensitive; admins see members' profiles only when this is on.
    personality_admin_access = models.BooleanField(
        default=False, help_text="Organization admins may see members' personality profiles."
    )
    # Deletion (docs/api.md#deleting-an-organization): when an owner deleted it (hidden from then on, its slug freed,
    # its rows purged by a worker), and when its purge task was last published (the recovery sweep publishes again a
    # purge quiet for longer than RECOVERY_LEASE_SECONDS).
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    purge_published_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = OrganizationManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["name"]
        # The default manager hides deleted organizations; related lookups (a bot's organization) and the ORM's
        # cascades use the base manager, which sees them.
        base_manager_name = "all_objects"

    def __str__(self):
        return self.name


class Membership(TimeStampedModel):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # For users synced from another system; unique per organization when present.
    external_id = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="membership_unique_user"),
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(external_id__isnull=False),
                name="membership_unique_external_id",
            ),
        ]

    def __str__(self):
        return f"{self.user} @ {self.organization} ({self.role})"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class MemberErasure(models.Model):
    """An erasure whose second pass is still due (docs/api.md#erasing-a-member): written in the erasure's transaction,
    deleted by the pass. The pass is published with a countdown; this row is what the recovery sweep finds when that
    publish was lost (the broker down at the erasure) or its worker died."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    user_id = models.BigIntegerField()  # not a key: an erased person's account may be deleted meanwhile
    settle_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user_id"], name="member_erasure_unique_user"),
        ]

    def __str__(self):
        return f"erasure of user {self.user_id} @ {self.organization_id}, second pass {self.settle_at:%Y-%m-%d %H:%M}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        """Open (neither accepted nor revoked) and not expired: `Invitation.status` PENDING, in SQL."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(TimeStampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"
        EXPIRED = "expired", "Expired"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    # Only the token's SHA-256 is stored; the token itself travels in the e-mail (derived from the row and the
    # SECRET_KEY when the e-mail is made: services.invitation_token).
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    # When its e-mail was handed to the mail server (or refused for good by it): a pending invitation still
    # without it an hour after its creation is published again (`invitations_mail_recover`).
    mailed_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self):
        return f"{self.email} -> {self.organization}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return self.Status.ACCEPTED
        if self.revoked_at:
            return self.Status.REVOKED
        if self.expires_at <= timezone.now():
            return self.Status.EXPIRED
        return self.Status.PENDING


class ApiKey(TimeStampedModel):
    """An organization credential: `Authorization: Api-Key bk_<prefix>_<secret>`."""

    #: the marker core's throttles and permissions read on `request.auth` (core imports no app)
    is_api_key = True

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Write"
        # Dedicated scopes (issue 18): endpoints that name one accept only keys holding it, whatever
        # their read/write scopes (OrganizationAPIView.api_key_scopes).
        MEMBERS_SYNC = "members:sync", "Member sync"
        RECOMMENDATIONS_MANAGE = "recommendations:manage", "Recommendations: cache and training"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """(full key, prefix, sha256 of the full key)."""
        prefix = secrets.token_hex(4)
        key = f"bk_{prefix}_{secrets.token_urlsafe(32)}"
        return key, prefix, hash_secret(key)
