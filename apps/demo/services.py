"""The demo organization's content, seeded by `make run` (docs/demo.md): a bot trained on the bundled
pages about Beacon (content/, CC0), a two-course catalog (courses > modules > lessons, with
prerequisites), learners with progress and events, and a trained recommender.

Idempotent: every row is found by a natural key first (the bot's name, the documents' sha256, the
items' external_id, the members' external_id, the events' idempotency key) and created only when it
is missing; a progress row that exists is left alone; the recommender is trained only while the
organization has no ready model. So a second run writes nothing. Everything runs in this process
(`document_ingest_now`, `content_embed`, `recommender_train`): devstack seeds before it starts the
workers, and the demo answers as soon as the web server is up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.bots.models import Bot
from apps.bots.services import bot_create
from apps.documents.models import Document
from apps.documents.services.pipeline import document_ingest_now
from apps.documents.services.upload import IncomingFile, document_upload
from apps.organizations.management.commands.seed_demo import DEMO_SLUG
from apps.organizations.member_sync import MemberSyncRow, members_sync
from apps.organizations.models import Membership, Organization, Role
from apps.progress.models import ContentItem, InteractionKind, Progress
from apps.progress.services import content_create, content_embed, interaction_create, progress_complete, progress_start
from apps.recommendations.models import RecommenderModel
from apps.recommendations.services import recommender_train

CONTENT_DIR = Path(__file__).resolve().parent / "content"
BOT_NAME = "Beacon Guide"
#: the demo's progress and events start this long before the first seed (recent enough for the
#: dashboard's default period and the recommender's time decay)
HISTORY = timedelta(days=14)

BOT = {
    "name": BOT_NAME,
    "description": "Answers questions about Beacon from the bundled demo pages (apps/demo/content, CC0).",
    "greeting": "Hi! Ask me anything about Beacon.",
    "suggested_questions": [
        "How do I embed the widget on my site?",
        "Which file types can I upload?",
        "What does the recommender learn from?",
    ],
    "system_prompt": "You are Beacon's guide. Answer from the documents only and cite them.",
}

#: (external_id, kind, title, parent external_id, prerequisite external_ids, tags, difficulty, minutes)
CATALOG: list[tuple[str, str, str, str | None, list[str], list[str], int, int]] = [
    ("demo-course-kb", "course", "Beacon fundamentals", None, [], ["beacon", "bots"], 1, 0),
    ("demo-module-kb-docs", "module", "Your knowledge base", "demo-course-kb", [], ["documents"], 1, 0),
    ("demo-lesson-what", "lesson", "What is Beacon", "demo-module-kb-docs", [], ["beacon"], 1, 10),
    ("demo-lesson-upload", "lesson", "Uploading documents", "demo-module-kb-docs", [], ["documents"], 1, 15),
    ("demo-lesson-ask", "lesson", "Asking your bot questions", "demo-module-kb-docs", ["demo-lesson-upload"],
     ["bots", "chat"], 2, 15),
    ("demo-module-kb-widget", "module", "The chat widget", "demo-course-kb", [], ["widget"], 2, 0),
    ("demo-lesson-embed", "lesson", "Embedding the widget", "demo-module-kb-widget", ["demo-lesson-ask"],
     ["widget"], 2, 10),
    ("demo-lesson-preview", "lesson", "The widget preview page", "demo-module-kb-widget", [], ["widget"], 1, 5),
    ("demo-course-learning", "course", "Beacon for learning teams", None, ["demo-course-kb"], ["progress"], 2, 0),
    ("demo-module-progress", "module", "Tracking progress", "demo-course-learning", [], ["progress"], 2, 0),
    ("demo-lesson-catalog", "lesson", "Building a catalog", "demo-module-progress", [], ["catalog"], 2, 15),
    ("demo-lesson-events", "lesson", "Recording progress and events", "demo-module-progress",
     ["demo-lesson-catalog"], ["progress", "events"], 2, 15),
    ("demo-module-recs", "module", "Recommendations", "demo-course-learning", [], ["recommendations"], 3, 0),
    ("demo-lesson-recs", "lesson", "How recommendations are made", "demo-module-recs", ["demo-lesson-events"],
     ["recommendations"], 3, 20),
    ("demo-lesson-graph", "lesson", "Prerequisites and the knowledge graph", "demo-module-recs", [],
     ["recommendations", "graph"], 3, 20),
    ("demo-article-faq", "article", "Beacon FAQ", None, [], ["beacon"], 1, 5),
    ("demo-video-tour", "video", "A five-minute tour of Beacon", None, [], ["beacon", "widget"], 1, 5),
    ("demo-article-api", "article", "Your first API call", None, [], ["api"], 2, 10),
]  # fmt: skip

#: (external_id, full name, interests, lessons completed in order, lesson in progress)
LEARNERS: list[tuple[str, str, list[str], list[str], str | None]] = [
    ("demo-learner-ada", "Ada Demo", ["bots", "widget"],
     ["demo-lesson-what", "demo-lesson-upload", "demo-lesson-ask"], "demo-lesson-embed"),
    ("demo-learner-ben", "Ben Demo", ["bots"], ["demo-lesson-what", "demo-lesson-upload"], "demo-lesson-ask"),
    ("demo-learner-chloe", "Chloe Demo", ["progress", "recommendations"],
     ["demo-lesson-catalog", "demo-lesson-events"], "demo-lesson-recs"),
    ("demo-learner-dev", "Dev Demo", ["recommendations"],
     ["demo-lesson-catalog", "demo-lesson-events", "demo-lesson-recs"], "demo-lesson-graph"),
    ("demo-learner-eve", "Eve Demo", ["widget"], ["demo-lesson-what", "demo-lesson-preview"], "demo-lesson-embed"),
    ("demo-learner-finn", "Finn Demo", [], ["demo-lesson-what"], "demo-lesson-upload"),
]  # fmt: skip

#: extra events (learner, item external_id, kind): likes, views and saves beside the progress events
EVENTS: list[tuple[str, str, str]] = [
    ("demo-learner-ada", "demo-video-tour", InteractionKind.VIEW),
    ("demo-learner-ada", "demo-lesson-ask", InteractionKind.LIKE),
    ("demo-learner-ben", "demo-article-faq", InteractionKind.VIEW),
    ("demo-learner-ben", "demo-video-tour", InteractionKind.LIKE),
    ("demo-learner-chloe", "demo-article-api", InteractionKind.SAVE),
    ("demo-learner-chloe", "demo-lesson-recs", InteractionKind.VIEW),
    ("demo-learner-dev", "demo-lesson-graph", InteractionKind.LIKE),
    ("demo-learner-dev", "demo-article-api", InteractionKind.VIEW),
    ("demo-learner-eve", "demo-video-tour", InteractionKind.VIEW),
    ("demo-learner-eve", "demo-lesson-preview", InteractionKind.LIKE),
    ("demo-learner-finn", "demo-article-faq", InteractionKind.VIEW),
    ("demo-learner-finn", "demo-video-tour", InteractionKind.VIEW),
]


@dataclass
class DemoSeed:
    bot: Bot
    documents: int
    items: int
    learners: int
    model_version: int | None


def demo_documents() -> list[tuple[str, bytes]]:
    """(file name, bytes) of the bundled pages, in name order; the folder's README is not one."""
    return [(path.name, path.read_bytes()) for path in sorted(CONTENT_DIR.glob("*.md")) if path.name != "README.md"]


def _bot(*, organization, owner) -> Bot:
    bot = Bot.objects.filter(organization=organization, name=BOT_NAME).first()
    return bot or bot_create(organization=organization, data=BOT, created_by=owner)


def _documents(*, organization, bot, owner) -> int:
    """Upload the pages (a page already in the bot is a duplicate, not stored again) and run the
    pipeline now for those not ready yet."""
    files = [IncomingFile(name, data) for name, data in demo_documents()]
    outcomes = document_upload(organization=organization, bot=bot, files=files, created_by=owner, enqueue=False)
    for outcome in outcomes:
        if outcome.document.status != Document.Status.READY:
            document_ingest_now(document=outcome.document)
    return len(outcomes)


def _catalog(*, organization) -> dict[str, ContentItem]:
    """Create the missing items (parents and prerequisites come first in CATALOG) and embed them
    all now (an upsert: vectors already there are kept)."""
    items = {item.external_id: item for item in ContentItem.objects.filter(organization=organization)}
    for external_id, kind, title, parent, prerequisites, tags, difficulty, minutes in CATALOG:
        if external_id in items:
            continue
        data = {
            "external_id": external_id, "kind": kind, "title": title, "tags": tags, "difficulty": difficulty,
            "description": f"{title}: part of the Beacon demo catalog.", "categories": ["beacon"],
        }  # fmt: skip
        if minutes:
            data["duration_minutes"] = minutes
        if parent:
            data["parent_external_id"] = parent
        if prerequisites:
            data["prerequisite_external_ids"] = prerequisites
        items[external_id] = content_create(organization=organization, data=data)
    ours = {external_id: items[external_id] for external_id, *_ in CATALOG}
    content_embed(organization_id=organization.pk, item_ids=[item.pk for item in ours.values()])
    return ours


def _learners(*, organization) -> dict[str, object]:
    """The learners as managed accounts of the organization (member sync: found by external_id)."""
    rows = [
        MemberSyncRow(
            index=index,
            data={
                "external_id": external_id,
                "email": f"{external_id}@demo.beacon.local",
                "full_name": name,
                "interests": interests,
            },
        )
        for index, (external_id, name, interests, _done, _doing) in enumerate(LEARNERS)
    ]
    members_sync(organization=organization, rows=rows)
    memberships = Membership.objects.filter(
        organization=organization, external_id__in=[row[0] for row in LEARNERS]
    ).select_related("user")
    return {membership.external_id: membership.user for membership in memberships}


def _progress_and_events(*, organization, learners: dict, items: dict[str, ContentItem], since: datetime) -> None:
    """Each learner's completed lessons and the one in progress (through the progress services, which
    record the start and complete events and roll up to modules and courses), then the extra events.
    A learner who already has progress on an item is left as they are."""
    for number, (external_id, _name, _interests, done, doing) in enumerate(LEARNERS):
        user = learners.get(external_id)
        if user is None:  # member sync refused the row (e.g. a plan's member limit): no progress for them
            continue
        seen = set(Progress.objects.filter(organization=organization, user=user).values_list("item_id", flat=True))
        at = since + timedelta(days=number)
        for lesson in done:
            item = items[lesson]
            if item.pk not in seen:
                progress_start(organization=organization, user=user, item=item, at=at)
                at += timedelta(hours=1)
                progress_complete(organization=organization, user=user, item=item, time_spent_seconds=600, at=at)
            at += timedelta(hours=1)
        if doing and items[doing].pk not in seen:
            progress_start(organization=organization, user=user, item=items[doing], at=at)
    for number, (external_id, item_external_id, kind) in enumerate(EVENTS):
        if external_id not in learners:
            continue
        interaction_create(
            organization=organization,
            user=learners[external_id],
            item=items[item_external_id],
            kind=kind,
            occurred_at=since + timedelta(days=7, hours=number),
            idempotency_key=f"demo:{external_id}:{item_external_id}:{kind}",
        )


def demo_seed(*, organization, owner) -> DemoSeed:
    """Seed (or find) the demo content of `organization`; see the module docstring."""
    with transaction.atomic():
        bot = _bot(organization=organization, owner=owner)
    documents = _documents(organization=organization, bot=bot, owner=owner)
    with transaction.atomic():
        items = _catalog(organization=organization)
        learners = _learners(organization=organization)
        _progress_and_events(organization=organization, learners=learners, items=items, since=timezone.now() - HISTORY)
    model = RecommenderModel.objects.filter(organization=organization, status=RecommenderModel.Status.READY).first()
    if model is None:
        model = recommender_train(organization_id=organization.pk)
    return DemoSeed(
        bot=bot,
        documents=documents,
        items=len(items),
        learners=len(learners),
        model_version=model.version if model else None,
    )


def demo_urls(*, base_url: str, seed: DemoSeed) -> list[tuple[str, str]]:
    """What devstack prints for the demo: the widget preview and the analytics dashboard."""
    preview = reverse("widget:preview", kwargs={"public_id": seed.bot.public_id})
    dashboard = reverse("admin-dashboard")
    organization_id = seed.bot.organization_id
    return [
        ("Widget preview", f"{base_url}{preview}"),
        ("Dashboard", f"{base_url}{dashboard}?organization={organization_id}"),
    ]


def demo_first_run(base_url: str) -> list[tuple[str, str]]:
    """devstack's first-run step (apps/core/firstrun.py): seed the demo organization `demo` (created with
    its owner by `manage.py seed_demo` just before) and return its URLs; nothing when it is missing."""
    organization = Organization.objects.filter(slug=DEMO_SLUG).first()
    owner = (
        Membership.objects.filter(organization=organization, role=Role.OWNER).order_by("pk").first()
        if organization
        else None
    )
    if owner is None:
        return []
    seed = demo_seed(organization=organization, owner=owner.user)
    return demo_urls(base_url=base_url, seed=seed)
