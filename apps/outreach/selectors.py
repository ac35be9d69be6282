"""Outreach reads: campaigns and messages (scoped to the organization; another organization's ids are 404),
the segment of a campaign, and the member data a message is written from, loaded per batch of members.

Interests are read only through `members_interested_in` and `member_interests_bulk`, from the
members' structured interests (apps/interests: every source, decayed, strongest first).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from rest_framework.exceptions import NotFound

from apps.interests.selectors import member_ids_interested_in, member_interests_for_users
from apps.organizations.models import Membership
from apps.outreach.models import Campaign, CampaignMessage, OutreachOptOut
from apps.personality.models import PersonalityProfile
from apps.progress.models import ContentItem, Interaction, Progress

# --------------------------------------------------------------------------- interests (one place)


def members_interested_in(*, organization, values: list[str]) -> list[int]:
    """User ids of the organization's members interested in any of `values` (names normalised; every
    source, decayed weight at least INTERESTS_MIN_WEIGHT)."""
    return member_ids_interested_in(organization=organization, values=values)


def member_interests_bulk(*, organization, user_ids: list[int]) -> dict[int, list[str]]:
    """{user_id: interest values, strongest first} of these members, one query."""
    views = member_interests_for_users(organization=organization, user_ids=user_ids)
    return {user_id: [view.value for view in member_views] for user_id, member_views in views.items()}


def member_interests(*, membership: Membership) -> list[str]:
    return member_interests_bulk(organization=membership.organization, user_ids=[membership.user_id]).get(
        membership.user_id, []
    )


# --------------------------------------------------------------------------- campaigns and messages


def campaign_list(*, organization) -> QuerySet[Campaign]:
    return Campaign.objects.filter(organization=organization).order_by("-created_at", "-id")


def campaign_get(*, organization, campaign_id: int) -> Campaign:
    campaign = campaign_list(organization=organization).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("Campaign not found.")
    return campaign


def message_list(*, campaign: Campaign, status: str | None = None) -> QuerySet[CampaignMessage]:
    messages = CampaignMessage.objects.filter(organization_id=campaign.organization_id, campaign=campaign)
    if status:
        messages = messages.filter(status=status)
    return messages.order_by("id")


def message_get(*, campaign: Campaign, message_id: int) -> CampaignMessage:
    message = message_list(campaign=campaign).filter(pk=message_id).first()
    if message is None:
        raise NotFound("Message not found.")
    return message


def opted_out(*, organization_id: int, user_ids: list[int]) -> set[int]:
    return set(
        OutreachOptOut.objects.filter(organization_id=organization_id, user_id__in=user_ids).values_list(
            "user_id", flat=True
        )
    )


def messages_counted_this_month(*, organization) -> int:
    """What the plan's max_monthly_outreach_messages counts: campaign messages created this calendar month, and the
    places still held by campaigns being generated (the segment size they were admitted with, less the members
    written or skipped so far; started this month: a generation lost last month holds nothing now), so two campaigns
    generated one after the other cannot both fit in one place."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    created = CampaignMessage.objects.filter(organization=organization, created_at__gte=start).count()
    held = Campaign.objects.filter(
        organization=organization, status=Campaign.Status.GENERATING, generation_started_at__gte=start
    ).values_list("members_total", "generated_count", "skipped_count")
    return created + sum(max(0, total - generated - skipped) for total, generated, skipped in held)


# --------------------------------------------------------------------------- segments


def segment_members(*, campaign: Campaign) -> QuerySet[Membership]:
    """The campaign's members: active accounts with an e-mail, not opted out, matching every filter
    (docs/outreach.md "Segments"). Trait filters are validated against the organization's personality
    setting by the service before this runs. Ordered by membership id (the generation's keyset)."""
    organization = campaign.organization
    filters = campaign.filters or {}
    members = (
        Membership.objects.filter(organization=organization, user__is_active=True)
        .exclude(user__email="")
        .exclude(Exists(OutreachOptOut.objects.filter(organization=organization, user_id=OuterRef("user_id"))))
    )
    if filters.get("interests"):
        members = members.filter(
            user_id__in=members_interested_in(organization=organization, values=filters["interests"])
        )
    progress = Progress.objects.filter(organization=organization, user_id=OuterRef("user_id"))
    for state in filters.get("progress") or []:
        if state == "has_in_progress":
            members = members.filter(Exists(progress.filter(status=Progress.Status.IN_PROGRESS)))
        elif state == "completed_none":
            members = members.exclude(Exists(progress.filter(status=Progress.Status.COMPLETED)))
        elif state == "completed_some":
            members = members.filter(Exists(progress.filter(status=Progress.Status.COMPLETED)))
        elif state == "started_none":
            members = members.exclude(Exists(progress.exclude(status=Progress.Status.NOT_STARTED)))
    if filters.get("inactive_days"):
        since = timezone.now() - timedelta(days=int(filters["inactive_days"]))
        recent = Interaction.objects.filter(
            organization=organization, user_id=OuterRef("user_id"), occurred_at__gte=since
        )
        members = members.exclude(Exists(recent))
    traits = filters.get("traits") or {}
    if traits:
        latest = PersonalityProfile.objects.filter(organization=organization, user_id=OuterRef("user_id")).order_by(
            "-computed_at", "-id"
        )
        for trait, bounds in traits.items():
            members = members.annotate(**{f"trait_{trait}": Subquery(latest.values(trait)[:1])})
            condition = Q(**{f"trait_{trait}__isnull": False})
            if bounds.get("min") is not None:
                condition &= Q(**{f"trait_{trait}__gte": bounds["min"]})
            if bounds.get("max") is not None:
                condition &= Q(**{f"trait_{trait}__lte": bounds["max"]})
            members = members.filter(condition)
    return members.order_by("id")


# --------------------------------------------------------------------------- member data for the composer


def members_load(*, organization, user_ids: list[int]) -> dict[int, dict]:
    """{user_id: {"email", "name", "interests", "in_progress": [item...], "completed": n}} for a batch:
    three queries whatever the batch size."""
    members = {
        row["user_id"]: {
            "email": row["user__email"],
            "name": (row["user__full_name"] or "").split(" ")[0],
            "interests": [],
            "in_progress": [],
            "completed": 0,
        }
        for row in Membership.objects.filter(organization=organization, user_id__in=user_ids).values(
            "user_id", "user__email", "user__full_name"
        )
    }
    for user_id, interests in member_interests_bulk(organization=organization, user_ids=user_ids).items():
        members[user_id]["interests"] = interests
    rows = (
        Progress.objects.filter(organization=organization, user_id__in=user_ids, item__active=True)
        .exclude(status=Progress.Status.NOT_STARTED)
        .order_by(F("last_activity_at").desc(nulls_last=True), "-id")
        .values("user_id", "status", "percent", "item_id", "item__title", "item__kind", "item__url")
    )
    for row in rows:
        member = members.get(row["user_id"])
        if member is None:
            continue
        if row["status"] == Progress.Status.COMPLETED:
            member["completed"] += 1
        else:
            member["in_progress"].append(
                {"id": row["item_id"], "title": row["item__title"], "kind": row["item__kind"],
                 "url": row["item__url"], "percent": round(row["percent"])}
            )  # fmt: skip
    return members


def catalog_items(*, organization, item_ids) -> dict[int, dict]:
    """{id: {"title", "url", "active", "price"}} of catalog items (one query); `price` from the item's
    metadata when it has one (the only prices a message may state)."""
    rows = ContentItem.objects.filter(organization=organization, pk__in=list(item_ids)).values(
        "id", "title", "url", "active", "metadata"
    )
    return {
        row["id"]: {"title": row["title"], "url": row["url"], "active": row["active"],
                    "price": (row["metadata"] or {}).get("price")}
        for row in rows
    }  # fmt: skip
