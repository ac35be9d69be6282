"""Bots: an organization's assistants. The knowledge base hangs off a bot; chat and widget
settings are added by the bots-and-chat issue."""

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core.languages import BOT_LANGUAGE_CHOICES, bot_language_default, message
from apps.core.models import OrganizationOwnedModel


def new_public_id() -> str:
    return f"bot_{secrets.token_urlsafe(16)}"


def new_identity_secret() -> str:
    return f"bis_{secrets.token_urlsafe(32)}"


class BotManager(models.Manager):
    """The bots that exist for everyone: a bot being deleted (`deleted_at` set) is purged in the background
    (docs/bots.md#deleting-a-bot) and is gone for the API, the widget, the admin and every other app from the
    moment its owner deletes it. `Bot.all_objects` (the purge, the recovery sweep) sees it."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


# Beacon's default sentences in English; a bot in another language gets them in its own (bots.services).
DEFAULT_FALLBACK = message("en", "fallback")


class Bot(OrganizationOwnedModel):
    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="bots", db_index=True
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # Random, not guessable; the widget's public handle (never the database id).
    public_id = models.CharField(max_length=40, unique=True, default=new_public_id, editable=False)
    system_prompt = models.TextField(blank=True)
    # Language model (any OpenAI-compatible endpoint); without one configured the offline answerer replies.
    llm_model = models.CharField(max_length=100, default="gpt-4o-mini")
    temperature = models.FloatField(default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_answer_tokens = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(16), MaxValueValidator(8000)]
    )
    # The language of the bot's documents and answers (apps/core/languages.py, docs/search.md#languages):
    # the text-search configuration of its documents, the language of Beacon's own sentences; `auto`
    # detects each document's language (and answers in the question's).
    language = models.CharField(max_length=8, choices=BOT_LANGUAGE_CHOICES, default=bot_language_default)
    fallback_message = models.TextField(default=DEFAULT_FALLBACK)
    greeting = models.CharField(max_length=500, blank=True, default=message("en", "greeting"))
    suggested_questions = models.JSONField(default=list, blank=True)
    widget_theme = models.JSONField(default=dict, blank=True)
    allowed_origins = models.JSONField(default=list, blank=True)
    # HMAC key for the widget's identity verification. Shown once at creation and rotation.
    identity_secret = models.CharField(max_length=80, default=new_identity_secret, editable=False)
    # Retrieval: how many passages, the relevance cut-off on the fused 0..1 score, and the weight of
    # the dense (meaning) half against the full-text (words) half.
    top_k = models.PositiveSmallIntegerField(default=5, validators=[MinValueValidator(1), MaxValueValidator(50)])
    # The owner's cut-off; null = the calibrated one (docs/refusal.md). Read `effective_min_score`.
    min_score = models.FloatField(
        null=True, blank=True, default=None, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )
    dense_weight = models.FloatField(default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    # Strict grounding (docs/refusal.md#strict-grounding): answer only when the passages read hold every term of
    # the question that the bot's documents hold somewhere; off, the cut-off alone decides.
    strict_grounding = models.BooleanField(default=False)
    # Calibrated refusal (apps/documents/calibration.py, docs/refusal.md): the cut-off measured on the
    # bot's own corpus, when, and the figures behind it; `calibration_requested_at` is the debounce
    # marker of a pending run (null when none is pending).
    calibrated_min_score = models.FloatField(null=True, blank=True, editable=False)
    calibrated_at = models.DateTimeField(null=True, blank=True, editable=False)
    calibration = models.JSONField(default=dict, blank=True, editable=False)
    calibration_requested_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Deletion (docs/bots.md#deleting-a-bot): when the owner deleted the bot (hidden from then on, its rows purged
    # by a worker), and when its purge task was last published (the recovery sweep publishes again a purge
    # quiet for longer than RECOVERY_LEASE_SECONDS).
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)
    purge_published_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = BotManager()
    all_objects = models.Manager()

    class Meta:
        ordering = ["name", "id"]
        # The default manager hides deleted bots; related lookups (a document's bot) and the ORM's cascades
        # use the base manager, which sees them.
        base_manager_name = "all_objects"

    def __str__(self):
        return self.name

    @property
    def effective_min_score(self) -> float:
        """The refusal cut-off retrieval applies: the owner's override, else the calibrated value, else
        REFUSAL_DEFAULT_MIN_SCORE (a bot never calibrated, e.g. one without documents)."""
        if self.min_score is not None:
            return self.min_score
        if self.calibrated_min_score is not None:
            return self.calibrated_min_score
        return settings.REFUSAL_DEFAULT_MIN_SCORE

    def widget_snippet(self, base_url: str | None = None) -> str:
        """The HTML an owner pastes into a site to embed this bot's chat widget (served by apps/widget at
        /widget/{public_id}.js) from `base_url`: BEACON_PUBLIC_URL by default (the bot API, the admin),
        the host a page was served on for Beacon's own preview page."""
        base_url = settings.BEACON_PUBLIC_URL if base_url is None else base_url
        return f'<script src="{base_url}/widget/{self.public_id}.js" async></script>'
