"""Helpers of the personality tests (issue 8): a catalog with categories and durations, synthetic
personas that act it out through the real progress services, and chat messages of a user."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message
from apps.progress.models import InteractionKind
from apps.progress.services import interaction_create, progress_complete, progress_start
from apps.progress.tests.factories import ContentItemFactory

CATEGORIES = ["data", "cooking", "music", "design", "history", "languages"]
START = datetime(2026, 9, 1, tzinfo=UTC)


def build_catalog(organization) -> dict[str, list]:
    """Per category: 3 short articles (10 min), 2 long videos (45 min) and 1 course with 3 lessons."""
    catalog: dict[str, list] = {}
    for category in CATEGORIES:
        items = [
            ContentItemFactory(organization=organization, title=f"{category} short {n}", kind="article",
                               categories=[category], tags=[category], duration_minutes=10, difficulty=1 + n % 3)
            for n in range(3)
        ]  # fmt: skip
        items += [
            ContentItemFactory(organization=organization, title=f"{category} long {n}", kind="video",
                               categories=[category], tags=[category], duration_minutes=45, difficulty=2)
            for n in range(2)
        ]  # fmt: skip
        course = ContentItemFactory(
            organization=organization, title=f"{category} course", kind="course", categories=[category],
            tags=[category],
        )  # fmt: skip
        lessons = [
            ContentItemFactory(organization=organization, title=f"{category} lesson {n}", kind="lesson", parent=course,
                               position=n, categories=[category], tags=[category], duration_minutes=20, difficulty=2)
            for n in (1, 2, 3)
        ]  # fmt: skip
        catalog[category] = items + lessons
        catalog[f"{category}:course"] = [course]
    return catalog


def steady_finisher(organization, user, catalog) -> None:
    """One item a day for 12 days in a row, every morning, each one finished: two categories."""
    items = catalog["data"][:6] + catalog["cooking"][:6]
    for day, item in enumerate(items):
        at = START + timedelta(days=day, hours=8)
        progress_start(organization=organization, user=user, item=item, at=at)
        progress_complete(organization=organization, user=user, item=item, at=at + timedelta(minutes=30))


def erratic_dropper(organization, user, catalog) -> None:
    """Starts 12 items on scattered nights (gaps of 1 to 20 days), finishes 2 of them."""
    items = catalog["data"][:6] + catalog["cooking"][:6]
    gaps = [0, 1, 9, 1, 20, 2, 1, 14, 3, 1, 17, 2]
    day = 0
    for index, (item, gap) in enumerate(zip(items, gaps, strict=True)):
        day += gap
        at = START + timedelta(days=day, hours=23)
        progress_start(organization=organization, user=user, item=item, at=at)
        if index in (0, 5):
            progress_complete(organization=organization, user=user, item=item, at=at + timedelta(minutes=20))


def broad_explorer(organization, user, catalog) -> None:
    """Views and likes two items of every category."""
    for day, category in enumerate(CATEGORIES):
        for n, item in enumerate(catalog[category][1:3]):
            at = START + timedelta(days=day, hours=12 + n)
            interaction_create(
                organization=organization, user=user, item=item, kind=InteractionKind.VIEW, occurred_at=at
            )
            interaction_create(
                organization=organization, user=user, item=item, kind=InteractionKind.LIKE, occurred_at=at
            )


def narrow_viewer(organization, user, catalog) -> None:
    """Views and likes the same number of items, all in one category."""
    for day, item in enumerate(catalog["data"][:8]):
        at = START + timedelta(days=day, hours=12)
        interaction_create(organization=organization, user=user, item=item, kind=InteractionKind.VIEW, occurred_at=at)
        interaction_create(organization=organization, user=user, item=item, kind=InteractionKind.LIKE, occurred_at=at)


def chat(organization, user, texts: list[str], *, bot_reply: str = "Here is what the guide says.") -> Conversation:
    """A conversation of `user` with a bot: each text as the user's message, each followed by the bot's reply."""
    bot = BotFactory(organization=organization)
    conversation = Conversation.objects.create(organization=organization, bot=bot, user=user)
    for text in texts:
        Message.objects.create(organization=organization, conversation=conversation, role=Message.Role.USER,
                               content=text)  # fmt: skip
        Message.objects.create(organization=organization, conversation=conversation, role=Message.Role.ASSISTANT,
                               content=bot_reply)  # fmt: skip
    return conversation


EXTRAVERT_TEXTS = [
    "I love talking to a lot of different people at parties, it gives me energy for the whole week.",
    "Honestly I am usually the life of the party and I start conversations with everyone I meet.",
    "I feel comfortable around people and I never mind being the center of attention in a group.",
    "Could the course have a group session? I always start conversations and make new friends there.",
    "At meetups I talk to lots of different people and I really enjoy being the one who speaks up.",
    "I am the kind of person who starts conversations with strangers on the train.",
    "Big social events are my favourite thing, I feel at home around people and love to chat.",
    "When the workshop ended I stayed to talk with everyone, I like being around many people.",
    "I talk to a lot of different people at every party and I enjoy being the center of attention.",
    "My friends say I am the life of the party because I start conversations with everybody there.",
    "I feel comfortable around people I have just met and I love chatting with the whole room.",
    "Put me in a room full of strangers and I will start conversations with every one of them.",
]
INTROVERT_TEXTS = [
    "I usually keep in the background in group sessions and let others do the talking.",
    "I don't talk a lot in class, I have little to say when there are many people around.",
    "I am quiet around strangers and I don't like to draw attention to myself.",
    "Please no group work: I prefer to keep in the background and stay quiet.",
    "In meetings I have little to say and I keep quiet around people I do not know.",
    "I really don't like being the center of attention, so I keep in the background.",
    "At parties I stay quiet in a corner and I don't talk much to people I don't know.",
    "I rarely speak up, I am the quiet one who stays in the background of every group.",
    "I keep in the background at parties and I have little to say to the people there.",
    "I am quiet around strangers, so I don't talk a lot until I know someone well.",
    "I don't like to draw attention to myself and I keep quiet in every meeting.",
    "When there are many people around I have little to say and I stay in the background.",
]
