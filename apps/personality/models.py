"""Personality analysis (issue 8): a Big Five profile per user and the questionnaire answers behind it.

- `PersonalityProfile`: one row per (organization, user, input_hash). A recompute whose inputs
  (latest questionnaire, behaviour features, the user's own chat text) hash the same as the latest
  row writes nothing; the newest row is the user's current profile. Scores are 0..1 (neuroticism,
  not emotional stability: high = more easily upset), each with a confidence 0..1; a trait no source
  could estimate is null, never a guess. `evidence` lists, per trait, every source with its score,
  confidence and evidence (questionnaire items, behaviour features, quoted sentences).
- `AssessmentResponse`: a questionnaire the user answered (IPIP-50 or Mini-IPIP), the raw answers
  and the scored result (scores, confidence, flags such as straight-lining, the reasons).

Both are sensitive: the user sees and deletes their own rows; organization admins see profiles only
when the organization enabled `personality_admin_access`. Nothing here is projected to the graph.

The tables keep their `recommendations_*` names: the models were created in the recommendations
app (issue 8) and moved here without touching the database (issue 15, migrations 0001 here and
recommendations 0007: state only).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import OrganizationOwnedModel

TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")


def _unit_interval(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gte": 0, f"{field}__lte": 1})


class PersonalityProfile(OrganizationOwnedModel):
    class Source(models.TextChoices):
        QUESTIONNAIRE = "questionnaire", "Questionnaire"
        BEHAVIOUR = "behaviour", "Behaviour"
        TEXT = "text", "Text"
        COMBINED = "combined", "Combined"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    openness = models.FloatField(null=True, blank=True)
    openness_confidence = models.FloatField(default=0)
    conscientiousness = models.FloatField(null=True, blank=True)
    conscientiousness_confidence = models.FloatField(default=0)
    extraversion = models.FloatField(null=True, blank=True)
    extraversion_confidence = models.FloatField(default=0)
    agreeableness = models.FloatField(null=True, blank=True)
    agreeableness_confidence = models.FloatField(default=0)
    neuroticism = models.FloatField(null=True, blank=True)
    neuroticism_confidence = models.FloatField(default=0)
    #: {trait: {"score", "confidence", "sources": [{"source", "score", "confidence", "evidence"...}]}}
    evidence = models.JSONField(default=dict, blank=True)
    #: learning-style indicators from behaviour: short vs long items, video vs text, structured vs exploring
    learning_style = models.JSONField(default=dict, blank=True)
    #: the single source when only one contributed, else "combined"
    source = models.CharField(max_length=16, choices=Source.choices)
    input_hash = models.CharField(max_length=64)
    computed_at = models.DateTimeField()

    class Meta:
        db_table = "recommendations_personalityprofile"  # kept when moved from recommendations (issue 15)
        ordering = ["-computed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user", "input_hash"], name="personality_unique_input"),
            models.CheckConstraint(
                condition=Q(source__in=["questionnaire", "behaviour", "text", "combined"]),
                name="personality_source_valid",
            ),
            *[models.CheckConstraint(condition=_unit_interval(t), name=f"personality_{t}_0_1") for t in TRAITS],
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{t}_confidence__gte": 0, f"{t}_confidence__lte": 1}),
                    name=f"personality_{t}_conf_0_1",
                )
                for t in TRAITS
            ],
        ]
        indexes = [models.Index(fields=["organization", "user", "-computed_at"], name="personality_latest")]

    def __str__(self):
        return f"Personality of {self.user_id} @ {self.computed_at:%Y-%m-%d %H:%M}"

    def scores(self) -> dict[str, float | None]:
        return {trait: getattr(self, trait) for trait in TRAITS}

    def confidences(self) -> dict[str, float]:
        return {trait: getattr(self, f"{trait}_confidence") for trait in TRAITS}


class AssessmentResponse(OrganizationOwnedModel):
    class Instrument(models.TextChoices):
        IPIP50 = "ipip50", "IPIP Big-Five factor markers (50 items)"
        MINI_IPIP = "mini_ipip", "Mini-IPIP (20 items)"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    instrument = models.CharField(max_length=16, choices=Instrument.choices)
    #: {"<item number>": 1..5}, as answered
    answers = models.JSONField(default=dict)
    #: {"scores", "confidence", "answered", "missing", "flags", "reasons"} (personality.scoring)
    result = models.JSONField(default=dict)

    class Meta:
        db_table = "recommendations_assessmentresponse"  # kept when moved from recommendations (issue 15)
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(instrument__in=["ipip50", "mini_ipip"]), name="assessment_instrument_valid"
            ),
        ]
        indexes = [models.Index(fields=["organization", "user", "-created_at"], name="assessment_latest")]

    def __str__(self):
        return f"{self.instrument} by {self.user_id} @ {self.created_at:%Y-%m-%d %H:%M}"


class PersonalityDeletion(OrganizationOwnedModel):
    """When a user last deleted their personality data in the organization (one row per user, kept).

    A profile is rebuilt only from evidence newer than `deleted_at` (interactions, progress and chat
    messages after it, or a questionnaire answered after it): the beat sweep and every recompute read
    it. Holds no personality data itself, only the moment."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    deleted_at = models.DateTimeField()

    class Meta:
        db_table = "recommendations_personalitydeletion"  # kept when moved from recommendations (issue 15)
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="personality_deletion_unique_user"),
        ]

    def __str__(self):
        return f"Personality of {self.user_id} deleted @ {self.deleted_at:%Y-%m-%d %H:%M}"
