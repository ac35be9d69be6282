"""Recommendations API: /api/v1/orgs/{org}/recommendations/, feedback, similar items and users.

Access: members read their own recommendations (another user's: 403), admins and API keys anyone's
in the organization; users outside it are 404 like missing ids. Similar users: admins and API keys.

The personality part of a reason (", which suits your preference for videos", issue 8) is shown only
to the user themself, or to an admin when the organization enabled `personality_admin_access`; never
to API keys. The ranking (scores, order) is the same for every caller.
"""

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from apps.organizations.models import Role
from apps.organizations.permissions import role_at_least
from apps.organizations.tenancy import OrganizationAPIView
from apps.progress.selectors import content_get
from apps.recommendations import selectors, services
from apps.recommendations.api.serializers import (
    FeedbackInputSerializer,
    FeedbackOutputSerializer,
    LimitParamsSerializer,
    RecommendationListSerializer,
    RecommendationParamsSerializer,
    SimilarItemListSerializer,
    SimilarUserListSerializer,
)
from apps.recommendations.engine.ranking import RankRequest

TAGS = ["recommendations"]


class RecommendationListApi(OrganizationAPIView):
    read_role = Role.MEMBER

    @extend_schema(
        operation_id="recommendations_list",
        parameters=[RecommendationParamsSerializer],
        responses=RecommendationListSerializer,
        tags=TAGS,
        description="What the user should do next, best first, each with its reason. Served from a per-user cache "
        "(invalidated by the user's new interactions and by retraining); every shown item is logged (log_id).",
    )
    def get(self, request, org_slug):
        params = RecommendationParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        data = params.validated_data
        user_id = data.get("user")
        if user_id is None:
            if self.api_key is not None:
                raise ValidationError({"user": ["Required with an API key."]})
            user_id = request.user.pk
        if not self.sees_all_members and user_id != request.user.pk:
            raise PermissionDenied("Members can read only their own recommendations.")
        rank_request = RankRequest(
            kinds=data.get("kind", []),
            tags=data.get("tags", []),
            category=data.get("category"),
            exclude=data.get("exclude", []),
            diversity=data["diversity"],
            size=data["offset"] + data["limit"],
        )
        is_self = self.membership is not None and user_id == self.membership.user_id
        personal_reasons = self.api_key is None and (
            is_self or (role_at_least(self.role, Role.ADMIN) and self.organization.personality_admin_access)
        )
        result = services.recommendations_serve(
            organization=self.organization, user_id=user_id, request=rank_request, offset=data["offset"],
            limit=data["limit"], verify_member=not is_self, personal_reasons=personal_reasons,
        )  # fmt: skip
        # `result` is already plain JSON data (it is what the cache holds); RecommendationListSerializer
        # documents its shape. Rendering it through nested serializers would double a cache hit's cost.
        return Response(result)


class RecommendationFeedbackApi(OrganizationAPIView):
    method_roles = {"POST": Role.MEMBER}

    @extend_schema(
        operation_id="recommendations_feedback",
        request=FeedbackInputSerializer,
        responses=FeedbackOutputSerializer,
        tags=TAGS,
        description="`clicked` or `dismissed` on a shown recommendation (members: their own). A dismissal is final: "
        "it records a `dismiss` interaction and the item is never recommended to that user again.",
    )
    def post(self, request, org_slug, log_id):
        log = selectors.recommendation_log_get(organization=self.organization, log_id=log_id)
        if not self.sees_all_members and log.user_id != request.user.pk:
            raise PermissionDenied("Members can give feedback only on their own recommendations.")
        data = FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        log = services.recommendation_feedback(
            organization=self.organization, log=log, action=data.validated_data["action"]
        )
        return Response(FeedbackOutputSerializer(log).data)


class ContentSimilarApi(OrganizationAPIView):
    read_role = Role.MEMBER

    @extend_schema(
        operation_id="content_similar",
        parameters=[LimitParamsSerializer],
        responses=SimilarItemListSerializer,
        tags=TAGS,
        description="Items like this one: content similarity blended with co-occurrence, each with its reason.",
    )
    def get(self, request, org_slug, item_id):
        params = LimitParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        item = content_get(organization=self.organization, item_id=item_id)
        results = selectors.content_similar(
            organization=self.organization, item=item, limit=params.validated_data["limit"]
        )
        return Response(SimilarItemListSerializer({"item": item.pk, "results": results}).data)


class UserSimilarApi(OrganizationAPIView):
    read_role = Role.ADMIN

    @extend_schema(
        operation_id="users_similar",
        parameters=[LimitParamsSerializer],
        responses=SimilarUserListSerializer,
        tags=TAGS,
        description="Members with the closest tastes (ALS user factors) to this one (admins and API keys).",
    )
    def get(self, request, org_slug, user_id):
        params = LimitParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        selectors.member_get(organization=self.organization, user_id=user_id)
        results = selectors.user_similar(
            organization=self.organization, user_id=user_id, limit=params.validated_data["limit"]
        )
        return Response(SimilarUserListSerializer({"user": user_id, "results": results}).data)
