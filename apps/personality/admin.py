"""Django admin for personality data: read-only profiles with a server-rendered SVG chart of the
five traits (bar = score, opacity = confidence; no JavaScript, no CDN), and questionnaire answers.

The Django admin is for Beacon staff; organization admins see profiles only through the API, and
only when their organization enabled `personality_admin_access`.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from apps.personality.instrument import TRAITS
from apps.personality.models import AssessmentResponse, PersonalityProfile
from apps.personality.services import personality_caches_clear

BAR_WIDTH = 220


def traits_chart(scores: dict, confidence: dict, *, compact: bool = False) -> str:
    """An inline SVG bar chart of the five traits (server-side, escaped)."""
    row, label_width = (12, 0) if compact else (22, 130)
    width = label_width + (BAR_WIDTH // 2 if compact else BAR_WIDTH) + (0 if compact else 60)
    bar = BAR_WIDTH // 2 if compact else BAR_WIDTH
    rows = []
    for index, trait in enumerate(TRAITS):
        score, conf = scores.get(trait), confidence.get(trait) or 0
        y = index * row
        length = 0 if score is None else max(1, round(bar * score))
        opacity = round(0.25 + 0.75 * conf, 2)
        value = "n/a" if score is None else f"{score:.2f} (conf. {conf:.2f})"
        rows.append((y, trait, label_width, length, row - 4, opacity, value, y + row - 8, label_width + bar + 6))
    if compact:
        body = format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690" fill-opacity="{}"><title>{}: {}</title></rect>',
            ((lw, y, length, h, opacity, trait, value) for y, trait, lw, length, h, opacity, value, _, _ in rows),
        )
    else:
        body = format_html_join(
            "",
            '<text x="0" y="{}" font-size="12">{}</text>'
            '<rect x="{}" y="{}" width="{}" height="{}" fill="#417690" fill-opacity="{}"/>'
            '<text x="{}" y="{}" font-size="11">{}</text>',
            (
                (ty, trait, lw, y, length, h, opacity, vx, ty, value)
                for y, trait, lw, length, h, opacity, value, ty, vx in rows
            ),
        )
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" role="img" aria-label="Big Five traits">'
        '<rect x="{}" y="0" width="{}" height="{}" fill="#f3f3f3"/>{}</svg>',
        width,
        row * len(TRAITS),
        label_width,
        bar,
        row * len(TRAITS),
        body,
    )


@admin.register(PersonalityProfile)
class PersonalityProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "source", "traits_small", "computed_at"]
    list_filter = ["source", "organization"]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    readonly_fields = ["organization", "user", "source", "traits", "learning_style", "evidence", "input_hash",
                       "computed_at", "created_at"]  # fmt: skip
    fields = readonly_fields

    @admin.display(description="traits")
    def traits_small(self, obj):
        return traits_chart(obj.scores(), obj.confidences(), compact=True)

    @admin.display(description="traits (bar = score 0..1, opacity = confidence)")
    def traits(self, obj):
        return traits_chart(obj.scores(), obj.confidences())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        personality_caches_clear(obj.organization_id, obj.user_id, lists=True)

    def delete_queryset(self, request, queryset):
        pairs = set(queryset.values_list("organization_id", "user_id"))
        super().delete_queryset(request, queryset)
        for organization_id, user_id in pairs:
            personality_caches_clear(organization_id, user_id, lists=True)


@admin.register(AssessmentResponse)
class AssessmentResponseAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "instrument", "traits_small", "created_at"]
    list_filter = ["instrument", "organization"]
    search_fields = ["user__email", "organization__name"]
    list_select_related = ["user", "organization"]
    readonly_fields = ["organization", "user", "instrument", "traits", "answers", "result", "created_at"]
    fields = readonly_fields

    @admin.display(description="traits")
    def traits_small(self, obj):
        return traits_chart(obj.result.get("scores", {}), obj.result.get("confidence", {}), compact=True)

    @admin.display(description="scored traits (bar = score 0..1, opacity = confidence)")
    def traits(self, obj):
        return traits_chart(obj.result.get("scores", {}), obj.result.get("confidence", {}))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
