"""Every receiver of outreach, connected in `OutreachConfig.ready()` (STYLE.md §9).

A member who leaves the organization is never mailed by it: their unsent messages are deleted (sent ones
stay as the record of what went out; erasing the member deletes those too).
"""

from __future__ import annotations

from apps.organizations import events as organization_events
from apps.organizations.models import Membership
from apps.outreach.models import Campaign, CampaignMessage


def on_members_changed(sender, *, organization_id, user_ids, **kwargs) -> None:
    still = set(
        Membership.objects.filter(organization_id=organization_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )
    gone = [user_id for user_id in user_ids if user_id not in still]
    if gone:
        CampaignMessage.objects.filter(
            organization_id=organization_id, user_id__in=gone, status=CampaignMessage.Status.READY
        ).delete()


def on_member_erasing(sender, *, organization_id: int, user_id: int, **kwargs) -> None:
    """A member's erasure: every campaign message to them, sent ones too (their opt-out stays: it is honoured if
    they come back)."""
    # Through the organization's campaigns: (campaign, user) is the messages' unique index.
    campaigns = Campaign.objects.filter(organization_id=organization_id).values("id")
    CampaignMessage.objects.filter(campaign_id__in=campaigns, user_id=user_id).delete()


def on_organization_deleted(sender, *, organization_id: int, **kwargs) -> None:
    from apps.outreach.services import organization_campaigns_stop

    organization_campaigns_stop(organization_id=organization_id)


def on_organization_purging(sender, *, organization_id: int, last: bool, **kwargs) -> int:
    """Every row of the app's own goes in the first stage (nothing of another app references them)."""
    from apps.outreach.services import organization_outreach_purge_batch

    return 0 if last else organization_outreach_purge_batch(organization_id=organization_id)


RECEIVERS = (
    (organization_events.members_changed, on_members_changed),
    (organization_events.member_erasing, on_member_erasing),
    (organization_events.organization_deleted, on_organization_deleted),
    (organization_events.organization_purging, on_organization_purging),
)


def receivers_connect() -> None:
    """Called once from OutreachConfig.ready() (dispatch_uid: connecting twice is a no-op)."""
    for signal, receiver in RECEIVERS:
        signal.connect(receiver, dispatch_uid=f"outreach.{receiver.__name__}")
