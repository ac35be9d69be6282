"""Conversations with a bot and their messages (citations, usage, latency, feedback); the quality loop's
Q&A pairs (corrected answers) and evaluation runs."""

from django.conf import settings
from django.db import models
from pgvector.django import VectorField

from apps.core.models import OrganizationOwnedModel


class Conversation(OrganizationOwnedModel):
    class Channel(models.TextChoices):
        API = "api", "API"
        WIDGET = "widget", "Widget"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="conversations", db_index=True
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="conversations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="conversations"
    )
    visitor_id = models.CharField(max_length=100, blank=True, db_index=True)
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.API, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.title or f"Conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        OK = "ok", "Answered"
        UNANSWERED = "unanswered", "Unanswered (nothing relevant found)"
        ERROR = "error", "Error (the language model failed)"

    organization = models.ForeignKey("organizations.Organization", on_delete=models.PROTECT, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OK, db_index=True)
    citations = models.JSONField(default=list, blank=True)
    model = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    feedback = models.SmallIntegerField(null=True, blank=True, choices=[(1, "+1"), (-1, "-1")])
    feedback_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "role", "created_at"], name="message_usage")]

    def __str__(self):
        return f"{self.role}: {self.content[:50]}"


# --------------------------------------------------------------------------- the quality loop (issue 14)


class QAPair(OrganizationOwnedModel):
    """A question and the answer the bot's owner wants given: written directly, or a corrected answer
    attached to a bad assistant message (`source_message`). Preferred over retrieval when a new question
    is close enough (apps/conversations/qa.py), and the bot's evaluation set (evaluation.py).

    The question's embedding is stored beside the name of the model that made it (an untyped vector,
    like documents.ChunkEmbedding), so a model change needs no migration: stale rows are re-embedded
    on their next use."""

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+", db_index=True
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="qa_pairs")
    question = models.TextField()
    answer = models.TextField()
    source_message = models.OneToOneField(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="correction"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    embedding = VectorField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bot", "embedding_model"], name="qapair_bot_model")]
        verbose_name = "Q&A pair"

    def __str__(self):
        return self.question[:80]


class EvaluationRun(OrganizationOwnedModel):
    """One evaluation of a bot on its Q&A pairs: retrieval Recall@k and MRR, grounded-answer rate and
    refusal rate, with the parameters used, so two runs can be compared."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        "organizations.Organization", on_delete=models.PROTECT, related_name="+", db_index=True
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="evaluation_runs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    parameters = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["bot", "-created_at"], name="evaluationrun_bot_latest")]

    def __str__(self):
        return f"Evaluation {self.pk} of bot {self.bot_id} ({self.status})"
