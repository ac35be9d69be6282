"""One profile per member (issue 18 item 6, docs/interests.md "The member's profile"): what Beacon has
learnt about a member in one organization, shown to that member and deletable by them.

- interests with their evidence (apps.interests: stated, synced, inferred, chat; weight, last seen,
  the catalog items a chat question matched);
- a progress summary (apps.progress);
- the chat activity that feeds the chat evidence (questions asked, the last one's time);
- a personality summary (trait scores and confidences, learning style): it is the member's own profile,
  which the personality privacy rules always show to the member; nobody else reads this endpoint (no
  admin variant, no API keys).

Deletion (`member_profile_delete`) removes what was learnt, like the personality deletion it extends:
every interest of the member in the organization (all sources: chat and inferred evidence too), and the
personality data through `profile_delete`. The chat history itself is the member's conversations (their
own deletion endpoints); questions asked after the deletion start new evidence.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Max

from apps.interests.selectors import member_interest_list
from apps.interests.services import member_interests_delete
from apps.personality import selectors, services
from apps.personality.instrument import TRAITS
from apps.progress.selectors import progress_summary


def _chat_activity(organization, user) -> dict:
    from apps.conversations.models import Message

    figures = Message.objects.filter(
        organization=organization, conversation__user=user, role=Message.Role.USER
    ).aggregate(questions=Count("id"), last=Max("created_at"))
    return {"questions": figures["questions"], "last_asked_at": figures["last"]}


def _personality_summary(organization, user) -> dict | None:
    profile = selectors.profile_latest_get(organization=organization, user_id=user.pk)
    if profile is None:
        return None
    return {
        "computed_at": profile.computed_at,
        "traits": {
            trait: {"score": getattr(profile, trait), "confidence": getattr(profile, f"{trait}_confidence")}
            for trait in TRAITS
        },
        "learning_style": profile.learning_style or {},
        "admin_access": organization.personality_admin_access,
    }


def member_profile_get(*, organization, user) -> dict:
    """The member's whole profile in the organization (plain data, ready to render)."""
    return {
        "user": user.pk,
        "interests": member_interest_list(organization=organization, user_id=user.pk),
        "progress": progress_summary(organization=organization, user=user),
        "chat": _chat_activity(organization, user),
        "personality": _personality_summary(organization, user),
    }


def member_profile_delete(*, organization, user_id: int) -> dict:
    """Delete what Beacon learnt about the member here: interests (all sources) and personality data.
    Returns the counts deleted."""
    with transaction.atomic():
        interests = member_interests_delete(organization_id=organization.pk, user_ids=[user_id])
        personality = services.profile_delete(organization=organization, user_id=user_id)
    return {"interests": interests, **personality}
