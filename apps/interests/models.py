"""Structured interests (issue 19, docs/interests.md).

    InterestCategory (organization, name)            e.g. "general", "topics", "skills"
    InterestValue    (organization, category, name)  e.g. "python" in "skills"
    MemberInterest   (organization, user, value, source) -> weight 0..1, evidence_count, updated_at

Names are normalised (`interest_name_normalise`: trimmed, inner whitespace collapsed, lower case,
as catalog tags are) and unique per organization (categories) and per category (values).

One MemberInterest row per (organization, user, value, *source*), not one merged row per value: each
source has its own life cycle. A PUT by the member replaces their `stated` rows, a PUT or bulk sync by
the organization replaces `synced` rows, behaviour (`inferred`) and chat questions (`chat`) add
evidence that decays; none of them may erase another's. Readers merge per value (selectors: the
strongest source's effective weight, every source listed as evidence).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

__all__ = ["InterestCategory", "InterestSource", "InterestValue", "MemberInterest", "interest_name_normalise"]

NAME_MAX_LENGTH = 64
# Whitespace, and the invisible characters that are never part of a name (zero-width space, word joiner, byte order
# mark): a name of nothing but those is blank. Zero-width (non-)joiners stay: they shape emoji and several scripts.
_SPACES = re.compile(r"[\s\u200b\u2060\ufeff]+")


def interest_name_normalise(name: str) -> str:
    """The stored form of a category or value name: trimmed, whitespace collapsed, lower case."""
    return _SPACES.sub(" ", str(name)).strip().lower()


class InterestSource(models.TextChoices):
    STATED = "stated", "Stated by the member"
    SYNCED = "synced", "Synced by the organization"
    INFERRED = "inferred", "Inferred from behaviour"
    CHAT = "chat", "Asked about in chat"


#: sources whose weight decays with time (INTERESTS_DECAY_HALF_LIFE_DAYS); stated and synced ones are kept as given
DECAYING_SOURCES = (InterestSource.INFERRED, InterestSource.CHAT)


class InterestCategory(models.Model):
    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "interest categories"
        constraints = [models.UniqueConstraint(fields=["organization", "name"], name="interest_category_unique")]

    def __str__(self):
        return self.name


class InterestValue(models.Model):
    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    category = models.ForeignKey(InterestCategory, on_delete=models.CASCADE, related_name="values")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["category_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "category", "name"], name="interest_value_unique")
        ]
        indexes = [models.Index(fields=["organization", "name"], name="interest_value_org_name")]

    def __str__(self):
        return f"{self.category.name}: {self.name}" if self.category_id else self.name


class MemberInterest(models.Model):
    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member_interests")
    value = models.ForeignKey(InterestValue, on_delete=models.CASCADE, related_name="members")
    source = models.CharField(max_length=8, choices=InterestSource.choices)
    #: as given (stated, synced) or as of `updated_at` (inferred, chat: decayed at read time)
    weight = models.FloatField(default=1.0)
    evidence_count = models.PositiveIntegerField(default=1)
    #: chat evidence: the catalog items the questions matched (latest first, a few), for the reason
    item_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    #: last seen: the last time this source said so (decay runs from here)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-weight", "value_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user", "value", "source"], name="member_interest_unique_source"
            ),
            models.CheckConstraint(condition=Q(weight__gte=0) & Q(weight__lte=1), name="member_interest_weight_0_1"),
            models.CheckConstraint(condition=Q(source__in=InterestSource.values), name="member_interest_source_valid"),
        ]
        indexes = [
            models.Index(fields=["organization", "user"], name="member_interest_org_user"),
            models.Index(fields=["organization", "value"], name="member_interest_org_value"),
            # the decay purge scans only decaying sources by age
            models.Index(fields=["source", "updated_at"], name="member_interest_src_updated"),
        ]

    def __str__(self):
        return f"{self.user_id} -> {self.value_id} ({self.source}, {self.weight:.2f})"
