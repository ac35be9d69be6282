"""Recommendations API: /api/v1/orgs/{org}/recommendations/, feedback, similar items and users; and
operating the engine (issue 18): cache/clear/, cache/stats/, train/ and model/ (status).

Access: members read their own recommendations (another user's: 403), admins and API keys anyone's
in the organization; users outside it are 404 like missing ids. Similar users: admins and API keys.
People may be named by the membership's `user_external_id`, items by the catalog's `item_external_id`.
Operations: admins and owners, and API keys with the `recommendations:manage` scope; members 403.

The personality part of a reason (", which suits your preference for videos", issue 8) is shown only
to the user themself, or to an admin when the organization enabled `personality_admin_access`; never
to API keys. The ranking (scores, order) is the same for every caller.
"""

from django.db import transaction
from django.urls import reverse
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from apps.core.responses import AfterResponse
from apps.organizations.models import ApiKey, Role
from apps.organizations.permissions import role_at_least
from apps.organizations.tenancy import OrganizationAPIView
from apps.progress.selectors import content_get
from apps.recommendations import operations, selectors, services
from apps.recommendations.api.serializers import (
    CacheClearInputSerializer,
    CacheClearOutputSerializer,
    CacheStatsSerializer,
    FeedbackInputSerializer,
    FeedbackOutputSerializer,
    LimitParamsSerializer,
    RecommendationListSerializer,
    RecommendationParamsSerializer,
    SimilarContentParamsSerializer,
    SimilarItemListSerializer,
    SimilarUserListSerializer,
    TrainingRequestedSerializer,
    TrainingStatusSerializer,
)
from apps.recommendations.engine.ranking import RankRequest

TAGS = ["recommendations"]


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class RecommendationListApi(OrganizationAPIView):
    """Outside ATOMIC_REQUESTS: the request reads (authentication, the cached or computed list) and writes one
    statement, the impression log's INSERT, which is atomic on its own; a transaction around it cost a cache hit
    two more database round trips (BEGIN and COMMIT) for nothing."""

    read_role = Role.MEMBER

    def target_user_id(self, *, user_id: int | None, external_id: str | None) -> int:
        """Whose list: the caller by default (API keys must name someone); another member, by id or by
        the membership's external_id (issue 18), only for admins and API keys. An unknown external_id
        is a 404 for them; members asking for anyone else get 403."""
        if user_id is None and external_id is None:
            if self.api_key is not None:
                raise ValidationError({"user": ["Required with an API key (user or user_external_id)."]})
            return self.request.user.pk
        if self.membership is not None and (
            user_id == self.request.user.pk or (external_id is not None and external_id == self.membership.external_id)
        ):
            return self.request.user.pk
        if not self.sees_all_members:
            raise PermissionDenied("Members can read only their own recommendations.")
        if external_id is not None:
            return selectors.member_get(organization=self.organization, external_id=external_id).user_id
        return user_id

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
        user_id = self.target_user_id(user_id=data.get("user"), external_id=data.get("user_external_id"))
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
        after = []
        result = services.recommendations_serve(
            organization=self.organization, user_id=user_id, request=rank_request, offset=data["offset"],
            limit=data["limit"], verify_member=not is_self, personal_reasons=personal_reasons,
            log_after=after.append,
        )  # fmt: skip
        # `result` is already plain JSON data (it is what the cache holds); RecommendationListSerializer
        # documents its shape. Rendering it through nested serializers would double a cache hit's cost.
        # The log rows are written once the response is sent (its ids are in it already).
        return AfterResponse(result, after=after)


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

    def similar(self, *, item_id: int | None = None, external_id: str | None = None, limit: int) -> Response:
        item = content_get(organization=self.organization, item_id=item_id, external_id=external_id)
        results = selectors.content_similar(organization=self.organization, item=item, limit=limit)
        return Response(
            SimilarItemListSerializer({"item": item.pk, "item_external_id": item.external_id, "results": results}).data
        )

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
        return self.similar(item_id=item_id, limit=params.validated_data["limit"])


class ContentSimilarLookupApi(ContentSimilarApi):
    @extend_schema(
        operation_id="content_similar_lookup",
        parameters=[SimilarContentParamsSerializer],
        responses=SimilarItemListSerializer,
        tags=TAGS,
        description="Items like the one named by `item` (id) or `item_external_id` (the catalog's external_id, "
        "issue 18); an unknown one is a 404. Same results as content/{id}/similar/.",
    )
    def get(self, request, org_slug):
        params = SimilarContentParamsSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return self.similar(item_id=data.get("item"), external_id=data.get("item_external_id"), limit=data["limit"])


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


# --------------------------------------------------------------------------- operations (issue 18)


class RecommendationOperationsApi(OrganizationAPIView):
    """Admins and owners, and API keys with the `recommendations:manage` scope; members 403."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN
    api_key_scopes = {"GET": ApiKey.Scope.RECOMMENDATIONS_MANAGE, "POST": ApiKey.Scope.RECOMMENDATIONS_MANAGE}


class RecommendationCacheClearApi(RecommendationOperationsApi):
    @extend_schema(
        operation_id="recommendations_cache_clear",
        request=CacheClearInputSerializer,
        responses=CacheClearOutputSerializer,
        tags=TAGS,
        description="Drop one member's cached lists (`user` or `user_external_id`; unknown: 404) or, with an empty "
        "body, the whole organization's: the next request computes them afresh. Cached lists become unreachable at "
        "once (one version bump) and expire by REC_CACHE_TTL_SECONDS.",
    )
    def post(self, request, org_slug):
        data = CacheClearInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user_id, external_id = data.validated_data.get("user"), data.validated_data.get("user_external_id")
        if user_id is not None or external_id is not None:
            user_id = selectors.member_get(
                organization=self.organization, user_id=user_id, external_id=external_id
            ).user_id
        result = operations.recommendation_cache_clear(organization=self.organization, user_id=user_id)
        return Response(CacheClearOutputSerializer(result).data)


class RecommendationCacheStatsApi(RecommendationOperationsApi):
    @extend_schema(
        operation_id="recommendations_cache_stats",
        responses=CacheStatsSerializer,
        tags=TAGS,
        description="Cached lists of the organization (counted with a bounded SCAN), hit and miss counts of served "
        "lists, and an estimate of their memory.",
    )
    def get(self, request, org_slug):
        return Response(
            CacheStatsSerializer(operations.recommendation_cache_stats(organization=self.organization)).data
        )


class RecommenderModelApi(RecommendationOperationsApi):
    @extend_schema(
        operation_id="recommendations_model",
        responses=TrainingStatusSerializer,
        tags=TAGS,
        description="The engine's state (idle, queued, running, failed with its error), the serving model (when "
        "trained, how long it took, its validation figures) and the latest run.",
    )
    def get(self, request, org_slug):
        status = selectors.recommender_training_status(organization=self.organization)
        return Response(TrainingStatusSerializer(status).data)


class RecommenderTrainApi(RecommendationOperationsApi):
    @extend_schema(
        operation_id="recommendations_train",
        request=None,
        responses={202: TrainingRequestedSerializer},
        tags=TAGS,
        description="Train the engine now, in the background: 202 with the state and `status_url` "
        "(.../recommendations/model/). Idempotent: while a training is queued or running nothing more is enqueued "
        "(`enqueued`: false).",
    )
    def post(self, request, org_slug):
        status, enqueued = operations.recommender_train_request(organization=self.organization)
        status_url = request.build_absolute_uri(reverse("recommendations-api:model", kwargs={"org_slug": org_slug}))
        body = TrainingRequestedSerializer({**status, "enqueued": enqueued, "status_url": status_url}).data
        return Response(body, status=202)
