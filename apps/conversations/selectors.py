"""Conversation reads, scoped to the organization and bot; members see only their own."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce
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


def widget_conversation_list(*, bot, visitor_id: str, user_id: int | None = None) -> QuerySet[Conversation]:
    """A widget visitor's conversations with `bot`: their own visitor id's and, for an identified
    member, that member's widget conversations on other devices too."""
    mine = Q(visitor_id=visitor_id)
    if user_id is not None:
        mine |= Q(user_id=user_id)
    return (
        Conversation.objects.filter(organization_id=bot.organization_id, bot=bot, channel=Conversation.Channel.WIDGET)
        .filter(mine)
        # The latest one is the one last used (a message, else its creation): a conversation another tab or device
        # went on with after this one started a new one is the visitor's latest, not the empty new one.
        .order_by(Coalesce("last_message_at", "created_at").desc(), "-id")
    )


def widget_conversation_get(*, bot, visitor_id: str, user_id: int | None, conversation_id: int) -> Conversation:
    conversation = (
        widget_conversation_list(bot=bot, visitor_id=visitor_id, user_id=user_id)
        .select_related("bot", "organization__plan")
        .filter(pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise NotFound("Conversation not found.")
    return conversation


def widget_message_get(*, bot, visitor_id: str, user_id: int | None, message_id: int) -> Message:
    message = (
        Message.objects.filter(
            conversation__in=widget_conversation_list(bot=bot, visitor_id=visitor_id, user_id=user_id),
            pk=message_id,
        )
        .select_related("conversation")
        .first()
    )
    if message is None:
        raise NotFound("Message not found.")
    return message
