"""Personality reads. Every read takes the organization; a user outside it is 404 like a missing id."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet

from apps.personality.instrument import TRAITS
from apps.personality.models import AssessmentResponse, PersonalityDeletion, PersonalityProfile


def profile_list(*, organization, user_id: int) -> QuerySet[PersonalityProfile]:
    return PersonalityProfile.objects.filter(organization=organization, user_id=user_id)


def profile_latest_get(*, organization, user_id: int) -> PersonalityProfile | None:
    """The user's current profile (the newest row), or None."""
    return profile_list(organization=organization, user_id=user_id).order_by("-computed_at", "-id").first()


def assessment_list(*, organization, user_id: int) -> QuerySet[AssessmentResponse]:
    return AssessmentResponse.objects.filter(organization=organization, user_id=user_id).order_by("-created_at", "-id")


def deletion_since(*, organization_id: int, user_id: int):
    """When the user last deleted their personality data in the organization (None: never). Profiles
    and advice use only evidence newer than this."""
    return (
        PersonalityDeletion.objects.filter(organization_id=organization_id, user_id=user_id)
        .values_list("deleted_at", flat=True)
        .first()
    )


def profile_cache_key(organization_id: int, user_id: int) -> str:
    return f"personality:p:{organization_id}:{user_id}"


def profile_compact_get(*, organization_id: int, user_id: int) -> dict | None:
    """{"scores", "confidence", "learning_style"} of the current profile for re-ranking and advice, from Redis
    (PERSONALITY_PROFILE_CACHE_SECONDS; cleared by a new profile and by deletion), else one indexed query."""
    key = profile_cache_key(organization_id, user_id)
    cached = cache.get(key)
    if cached is not None:
        return cached or None  # {} = "no profile", cached too
    profile = (
        PersonalityProfile.objects.filter(organization_id=organization_id, user_id=user_id)
        .order_by("-computed_at", "-id")
        .first()
    )
    compact = (
        {
            "scores": profile.scores(),
            "confidence": profile.confidences(),
            "learning_style": profile.learning_style,
            "profile_id": profile.pk,
        }
        if profile
        else {}
    )
    cache.set(key, compact, timeout=settings.PERSONALITY_PROFILE_CACHE_SECONDS)
    return compact or None


def trait_strength(compact: dict | None, trait: str) -> float:
    """-1..1: how far the trait is from average (0.5), times its confidence; 0 when unknown."""
    if not compact or trait not in TRAITS:
        return 0.0
    score = compact["scores"].get(trait)
    if score is None:
        return 0.0
    return max(-1.0, min(1.0, (score - 0.5) * 2)) * compact["confidence"].get(trait, 0.0)
