"""Boards API (issue 19, docs/boards.md): /api/v1/orgs/{org}/me/... for the member, and
/api/v1/orgs/{org}/members/{membership_id}/... for admins and API keys.

- goals/ (GET list, POST create), goals/{goal_id}/ (GET, PATCH, DELETE);
- vision-board/ (GET the latest board, POST generate, DELETE every version), vision-board/page/ (HTML),
  vision-board/image.svg, vision-board/image.png;
- me/vision-board/share/ (POST a signed, expiring link; DELETE ends every link): the member alone shares.

me/ is for people (API keys: 403); members/ needs the admin role (or an API key). Members of other
organizations, goals of other members and ids of other organizations are 404.

Privacy: personality text (`personal_note` of recommended items) is shown to the member, and to admins only
when the organization enabled `personality_admin_access`; never to API keys, nor after the member deleted
their personality data. The stored SVG and PNG never contain it.
"""

from __future__ import annotations

import copy

from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.response import Response

from apps.boards import selectors, services
from apps.boards.api.serializers import (
    BoardGeneratedSerializer,
    BoardGenerateSerializer,
    BoardOutputSerializer,
    BoardsDeletedSerializer,
    GoalInputSerializer,
    GoalOutputSerializer,
    ShareOutputSerializer,
    ShareRevokedSerializer,
)
from apps.boards.render import html_render
from apps.core.pagination import paginate, paginated_schema
from apps.organizations.models import Role
from apps.organizations.permissions import role_at_least
from apps.organizations.selectors import membership_get
from apps.organizations.tenancy import OrganizationAPIView
from apps.personality.selectors import deletion_since

TAGS = ["vision boards"]


class _MeApi(OrganizationAPIView):
    """The caller's own goals and board."""

    api_key_allowed = False
    read_role = Role.MEMBER
    write_role = Role.MEMBER
    url_prefix = "me"

    def target(self):
        return self.membership

    def url_kwargs(self) -> dict:
        return {"org_slug": self.organization.slug}


class _MemberApi(OrganizationAPIView):
    """A member's goals and board, for admins and API keys."""

    read_role = Role.ADMIN
    write_role = Role.ADMIN
    url_prefix = "member"

    def target(self):
        return membership_get(organization=self.organization, membership_id=self.kwargs["membership_id"])

    def url_kwargs(self) -> dict:
        return {"org_slug": self.organization.slug, "membership_id": self.kwargs["membership_id"]}


def _personal(view, membership, board=None) -> bool:
    """May this caller see the member's personality text (module docstring)?"""
    if view.api_key is not None:
        return False
    allowed = membership.user_id == view.request.user.pk or (
        role_at_least(view.role, Role.ADMIN) and view.organization.personality_admin_access
    )
    if allowed and board is not None:
        deleted = deletion_since(organization_id=view.organization.pk, user_id=membership.user_id)
        allowed = deleted is None or deleted < board.created_at
    return allowed


def _layout_for(layout: dict, *, personal: bool) -> dict:
    if personal:
        return layout
    layout = copy.deepcopy(layout)
    for group in layout.get("groups", []):
        for card in group.get("cards", []):
            card.pop("personal_note", None)
    return layout


def _board_data(view, membership, board) -> dict:
    prefix, kwargs = view.url_prefix, view.url_kwargs()
    return {
        **{field: getattr(board, field) for field in BoardOutputSerializer.Meta.fields if hasattr(board, field)},
        "user": board.user_id,
        "layout": _layout_for(board.layout, personal=_personal(view, membership, board)),
        "links": {name: reverse(f"boards-api:{prefix}-board-{name}", kwargs=kwargs) for name in ("page", "svg", "png")},
        "shared": bool(board.share_key),
    }


# --------------------------------------------------------------------------- goals


class _GoalListApi:
    @extend_schema(
        responses=paginated_schema(GoalOutputSerializer), tags=TAGS, description="The member's goals, oldest first."
    )
    def get(self, request, org_slug, **kwargs):
        membership = self.target()
        goals = selectors.goal_list(organization=self.organization, user_id=membership.user_id)
        return paginate(self, request, goals, GoalOutputSerializer)

    @extend_schema(
        request=GoalInputSerializer, responses={201: GoalOutputSerializer}, tags=TAGS,
        description="Add a goal: free text, optional target items of the catalog and an optional target date. "
        "A member has at most BOARDS_MAX_GOALS goals (409 `too_many_goals` past it).",
    )  # fmt: skip
    def post(self, request, org_slug, **kwargs):
        membership = self.target()
        data = GoalInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        goal = services.goal_create(membership=membership, **data.validated_data)
        return Response(GoalOutputSerializer(goal).data, status=status.HTTP_201_CREATED)


class _GoalDetailApi:
    def _goal(self):
        membership = self.target()
        return selectors.goal_get(
            organization=self.organization, user_id=membership.user_id, goal_id=self.kwargs["goal_id"]
        )

    @extend_schema(responses=GoalOutputSerializer, tags=TAGS, description="One goal.")
    def get(self, request, org_slug, goal_id, **kwargs):
        return Response(GoalOutputSerializer(self._goal()).data)

    @extend_schema(
        request=GoalInputSerializer(partial=True), responses=GoalOutputSerializer, tags=TAGS,
        description="Change a goal: any of text, target_items (the whole list) and target_date.",
    )  # fmt: skip
    def patch(self, request, org_slug, goal_id, **kwargs):
        data = GoalInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        goal = services.goal_update(goal=self._goal(), data=data.validated_data)
        return Response(GoalOutputSerializer(goal).data)

    @extend_schema(responses={204: None}, tags=TAGS, description="Delete a goal.")
    def delete(self, request, org_slug, goal_id, **kwargs):
        services.goal_delete(goal=self._goal())
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(operation_id="boards_me_goals_list"), post=extend_schema(operation_id="boards_me_goals_create")
)
class MeGoalListApi(_GoalListApi, _MeApi):
    pass


@extend_schema_view(
    get=extend_schema(operation_id="boards_member_goals_list"),
    post=extend_schema(operation_id="boards_member_goals_create"),
)
class MemberGoalListApi(_GoalListApi, _MemberApi):
    pass


@extend_schema_view(
    get=extend_schema(operation_id="boards_me_goals_retrieve"),
    patch=extend_schema(operation_id="boards_me_goals_update"),
    delete=extend_schema(operation_id="boards_me_goals_destroy"),
)
class MeGoalDetailApi(_GoalDetailApi, _MeApi):
    pass


@extend_schema_view(
    get=extend_schema(operation_id="boards_member_goals_retrieve"),
    patch=extend_schema(operation_id="boards_member_goals_update"),
    delete=extend_schema(operation_id="boards_member_goals_destroy"),
)
class MemberGoalDetailApi(_GoalDetailApi, _MemberApi):
    pass


# --------------------------------------------------------------------------- boards


class _BoardApi:
    # Generation reads, calls the language model, fetches images and renders outside any transaction
    # (services.vision_board_generate stores in its own short one).
    @method_decorator(transaction.non_atomic_requests)
    def dispatch(self, request, *args, **kwargs):
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(responses=BoardOutputSerializer, tags=TAGS, description="The member's latest board (404: none yet).")
    def get(self, request, org_slug, **kwargs):
        membership = self.target()
        board = selectors.board_latest_require(organization=self.organization, user_id=membership.user_id)
        return Response(_board_data(self, membership, board))

    @extend_schema(
        request=BoardGenerateSerializer, responses={200: BoardGeneratedSerializer, 201: BoardGeneratedSerializer},
        tags=TAGS,
        description="Generate the member's vision board: goals, strongest interests, milestones and recommended next "
        "items in themed groups with captions, rendered to SVG, PNG and HTML. 201 with a new version when the inputs "
        "changed (or `force`); 200 with the latest board when they did not.",
    )  # fmt: skip
    def post(self, request, org_slug, **kwargs):
        membership = self.target()
        data = BoardGenerateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        board, created = services.vision_board_generate(membership=membership, force=data.validated_data["force"])
        body = {**_board_data(self, membership, board), "created": created}
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        responses={200: BoardsDeletedSerializer}, tags=TAGS,
        description="Delete every version of the member's board, with its files (goals stay).",
    )  # fmt: skip
    def delete(self, request, org_slug, **kwargs):
        membership = self.target()
        return Response({"deleted": services.boards_delete(organization=self.organization, user_id=membership.user_id)})


class _BoardPageApi:
    @extend_schema(
        responses={(200, "text/html"): OpenApiTypes.STR}, tags=TAGS,
        description="The latest board as a responsive HTML page.",
    )  # fmt: skip
    def get(self, request, org_slug, **kwargs):
        membership = self.target()
        board = selectors.board_latest_require(organization=self.organization, user_id=membership.user_id)
        html = html_render(board.layout, personal=_personal(self, membership, board))
        return HttpResponse(html, content_type="text/html; charset=utf-8")


class _BoardSvgApi:
    @extend_schema(
        responses={(200, "image/svg+xml"): OpenApiTypes.STR}, tags=TAGS, description="The latest board as SVG."
    )
    def get(self, request, org_slug, **kwargs):
        membership = self.target()
        board = selectors.board_latest_require(organization=self.organization, user_id=membership.user_id)
        response = HttpResponse(board.svg, content_type="image/svg+xml")
        response["Content-Security-Policy"] = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
        return response


class _BoardPngApi:
    @extend_schema(
        responses={(200, "image/png"): OpenApiTypes.BINARY}, tags=TAGS, description="The latest board as PNG."
    )
    def get(self, request, org_slug, **kwargs):
        membership = self.target()
        board = selectors.board_latest_require(organization=self.organization, user_id=membership.user_id)
        with board.png.open("rb") as file:
            return HttpResponse(file.read(), content_type="image/png")


def _variant(base, scope: str, name: str, methods: dict[str, str]):
    """`base` bound to me/ (scope "me") or members/{id}/ ("member"), with its operation ids."""
    parent = _MeApi if scope == "me" else _MemberApi
    decorated = extend_schema_view(
        **{method: extend_schema(operation_id=f"boards_{scope}_{operation}") for method, operation in methods.items()}
    )
    return decorated(type(name, (base, parent), {"__module__": __name__, "__doc__": base.__doc__}))


BOARD_METHODS = {"get": "board_retrieve", "post": "board_generate", "delete": "board_destroy"}
MeBoardApi = _variant(_BoardApi, "me", "MeBoardApi", BOARD_METHODS)
MemberBoardApi = _variant(_BoardApi, "member", "MemberBoardApi", BOARD_METHODS)
MeBoardPageApi = _variant(_BoardPageApi, "me", "MeBoardPageApi", {"get": "board_page"})
MemberBoardPageApi = _variant(_BoardPageApi, "member", "MemberBoardPageApi", {"get": "board_page"})
MeBoardSvgApi = _variant(_BoardSvgApi, "me", "MeBoardSvgApi", {"get": "board_svg"})
MemberBoardSvgApi = _variant(_BoardSvgApi, "member", "MemberBoardSvgApi", {"get": "board_svg"})
MeBoardPngApi = _variant(_BoardPngApi, "me", "MeBoardPngApi", {"get": "board_png"})
MemberBoardPngApi = _variant(_BoardPngApi, "member", "MemberBoardPngApi", {"get": "board_png"})


class MeBoardShareApi(_MeApi):
    @extend_schema(
        operation_id="boards_me_board_share", request=None, responses={201: ShareOutputSerializer}, tags=TAGS,
        description="A signed link to your latest board, valid for BOARDS_SHARE_MAX_AGE_SECONDS: a public page and "
        "PNG without personality text. Generating a newer board or DELETE here ends the links.",
    )  # fmt: skip
    def post(self, request, org_slug):
        board = selectors.board_latest_require(organization=self.organization, user_id=request.user.pk)
        token, expires_at = services.board_share_create(board=board)
        url = request.build_absolute_uri(reverse("boards:shared-page", kwargs={"token": token}))
        png_url = request.build_absolute_uri(reverse("boards:shared-png", kwargs={"token": token}))
        return Response({"url": url, "png_url": png_url, "expires_at": expires_at}, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="boards_me_board_share_revoke", responses={200: ShareRevokedSerializer}, tags=TAGS,
        description="End every share link of your boards.",
    )  # fmt: skip
    def delete(self, request, org_slug):
        return Response(
            {"revoked": services.board_share_revoke(organization=self.organization, user_id=request.user.pk)}
        )
