"""Every receiver of interests, connected in `InterestsConfig.ready()` (STYLE.md §9).

- users.user_profile_changed with "interests": the legacy flat `User.interests` (written by users/me and
  member sync) is mirrored into the structured rows of every organization the user belongs to
  (services.legacy_interests_mirror: category "general", stated or synced).
- organizations.members_changed: a user who is no longer a member loses their interests in that
  organization (they are member data); a member without any structured interest there yet (just
  joined, e.g. by member sync, whose new accounts send no profile event) gets their flat list mirrored.

Both are set-based (a few queries per batch, whatever its size) and run in the sender's transaction.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from apps.interests import services
from apps.interests.models import MemberInterest
from apps.organizations import events as organization_events
from apps.organizations.models import Membership
from apps.users import events as user_events


def on_user_profile_changed(sender, *, user_ids, fields, **kwargs) -> None:
    if "interests" in fields:
        services.legacy_interests_mirror(user_ids=user_ids)


def on_members_changed(sender, *, organization_id: int, user_ids, **kwargs) -> None:
    members = set(
        Membership.objects.filter(organization_id=organization_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    gone = sorted(set(user_ids) - members)
    if gone:
        services.member_interests_delete(organization_id=organization_id, user_ids=gone)
    if members:
        known = set(
            MemberInterest.objects.filter(organization_id=organization_id, user_id__in=members)
            .values_list("user_id", flat=True)
            .distinct()
        )
        fresh = sorted(
            get_user_model().objects.filter(pk__in=members - known).exclude(interests=[]).values_list("pk", flat=True)
        )
        if fresh:
            services.legacy_interests_mirror(user_ids=fresh, organization_id=organization_id)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    """Every row of the app's own goes in the first stage (nothing of another app references them)."""
    return 0 if last else services.organization_interests_purge_batch(organization_id=organization_id)


RECEIVERS = (
    (user_events.user_profile_changed, on_user_profile_changed),
    (organization_events.members_changed, on_members_changed),
    (organization_events.organization_purging, on_organization_purging),
)


def receivers_connect() -> None:
    """Called once from InterestsConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"interests.{receiver.__name__}")
