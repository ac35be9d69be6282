from django.contrib import admin

from apps.interests.models import InterestCategory, InterestValue, MemberInterest


@admin.register(InterestCategory)
class InterestCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    search_fields = ["name", "organization__slug"]
    raw_id_fields = ["organization"]


@admin.register(InterestValue)
class InterestValueAdmin(admin.ModelAdmin):
    list_display = ["name", "category", "organization", "created_at"]
    search_fields = ["name", "category__name", "organization__slug"]
    list_select_related = ["category", "organization"]
    raw_id_fields = ["organization", "category"]


@admin.register(MemberInterest)
class MemberInterestAdmin(admin.ModelAdmin):
    """Stored weights: inferred and chat ones decay from `updated_at` (what members see is decayed)."""

    list_display = ["user", "value", "source", "weight", "evidence_count", "updated_at", "organization"]
    list_filter = ["source"]
    search_fields = ["user__email", "value__name", "organization__slug"]
    list_select_related = ["user", "value__category", "organization"]
    raw_id_fields = ["organization", "user", "value"]
