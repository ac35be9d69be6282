"""Conversation reads, scoped to the organization and bot; members see only their own."""

from django.db.models import Exists, OuterRef, QuerySet
from rest_framework.exceptions import NotFound

from apps.conversations.models import Conversation, Message


def conversation_list(*, organization, bot, own_user=None, filters: dict | None = None) -> QuerySet[Conversation]:
    """`own_user`: limit to that person's conversations (members); None: all (admins, API keys)."""
    queryset = Conversation.objects.filter(organization=organization, bot=bot).select_related("user")
    if own_user is not None:
        queryset = queryset.filter(user=own_user)
    filters = filters or {}
    if filters.get("channel"):
        queryset = queryset.filter(channel=filters["channel"])
    if filters.get("user"):
        queryset = queryset.filter(user_id=filters["user"])
    if filters.get("date_from"):
        queryset = queryset.filter(created_at__date__gte=filters["date_from"])
    if filters.get("date_to"):
        queryset = queryset.filter(created_at__date__lte=filters["date_to"])
    answers = Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.ASSISTANT)
    if filters.get("negative_feedback") is not None:
        negative = Exists(answers.filter(feedback=-1))
        queryset = queryset.filter(negative if filters["negative_feedback"] else ~negative)
    if filters.get("unanswered") is not None:
        unanswered = Exists(answers.filter(status=Message.Status.UNANSWERED))
        queryset = queryset.filter(unanswered if filters["unanswered"] else ~unanswered)
    return queryset.order_by("-created_at", "-id")


def conversation_get(*, organization, bot, conversation_id: int, own_user=None) -> Conversation:
    conversation = (
        conversation_list(organization=organization, bot=bot, own_user=own_user)
        .select_related("bot", "organization__plan")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


def message_get(*, conversation: Conversation, message_id: int) -> Message:
    message = conversation.messages.filter(pk=message_id).first()
    if message is None:
        raise NotFound("Message not found.")
    return message


def messages_for_export(*, conversations: QuerySet[Conversation]) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation__in=conversations)
        .select_related("conversation", "conversation__user")
        .order_by("conversation_id", "created_at", "id")
    )
