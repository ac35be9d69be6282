"""Vision boards (issue 19, docs/boards.md).

- `Goal`: what a member is aiming for in an organization: free text, optional target items of the
  catalog and an optional target date. The member edits their own; admins edit anyone's.
- `VisionBoard`: one generated board of a member, versioned per (organization, user). `inputs_hash`
  is the SHA-256 of everything the board was built from (goals, interests, milestones, recommended
  items with their reasons); a generation whose inputs hash the same as the latest board's writes
  nothing. `layout` is the board as data (themed groups of cards with captions), `svg` and `png` its
  renderings. Neither the SVG nor the PNG ever holds personality text: the member's own view adds it
  from `layout` (cards' `personal_note`) at display time (docs/boards.md, "Privacy").
- `share_key`: set when the member shares the board; a signed link names the board and this key, so
  clearing it (revoke) or generating a newer version (only the latest is served) ends every link.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import OrganizationOwnedModel


class Goal(OrganizationOwnedModel):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    text = models.CharField(max_length=500)
    target_items = models.ManyToManyField("progress.ContentItem", blank=True, related_name="+")
    target_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "user", "created_at"], name="boards_goal_member")]

    def __str__(self):
        return self.text[:80]


class VisionBoard(OrganizationOwnedModel):
    class Captions(models.TextChoices):
        LANGUAGE_MODEL = "language_model", "Language model"
        TEMPLATE = "template", "Template"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    version = models.PositiveIntegerField()
    inputs_hash = models.CharField(max_length=64)
    #: {"title", "subtitle", "width", "height", "groups": [{"key", "title", "caption", "cards": [...]}, ...]}
    layout = models.JSONField(default=dict)
    svg = models.TextField()
    png = models.FileField(upload_to="boards/%Y/%m/", max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    captions = models.CharField(max_length=16, choices=Captions.choices)
    #: why the template wrote the captions although a language model is configured (its error), else ""
    captions_note = models.CharField(max_length=300, blank=True)
    share_key = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "user", "version"], name="boards_board_unique_version"),
            models.CheckConstraint(
                condition=Q(captions__in=["language_model", "template"]), name="boards_board_captions_valid"
            ),
        ]

    def __str__(self):
        return f"Vision board v{self.version} of {self.user_id}"
