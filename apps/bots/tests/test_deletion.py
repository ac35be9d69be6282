"""Deleting a bot (docs/bots.md#deleting-a-bot): the owner's request hides the bot and publishes its purge; a real
worker purges its rows a batch per transaction; a purge that spends its budget publishes its rest; the recovery
sweep publishes again a purge whose task was lost. The API's side (204, 404 at once, tenancy, the plan's limit) is
in test_bots_api.py; each app's batch in its receivers' tests."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.bots.models import Bot
from apps.bots.services import bot_delete, bot_purge
from apps.bots.tests.deletion import bot_with_rows
from apps.bots.tests.factories import BotFactory
from apps.conversations.models import Conversation, Message, QAPair
from apps.conversations.tests.utils import ingest
from apps.core.purge import PURGE_BUSY, PURGE_DONE, PURGE_MORE
from apps.core.tests.broker import BULK_LIST, Published
from apps.core.tests.concurrency import in_another_connection
from apps.core.tests.waiting import until
from apps.documents.models import Chunk, ChunkEmbedding, Document, LexemeStat
from apps.documents.tests import samples
from apps.sources.models import CrawlPage, CrawlSource
from apps.sources.tests.factories import CrawlSourceFactory
from conftest import client_for
from workers.tasks.bots import bot_purge_task
from workers.tasks.maintenance import work_recover_stuck


def _purges(published: Published, *bots) -> list[int]:
    """The bot ids of the bots.purge tasks published for these bots (each removed from the broker at `clear()`)."""
    ids = {bot.pk for bot in bots}
    return [message.args[0] for message in published.find("bots.purge", lambda m: m.args[0] in ids)]


@contextmanager
def document_held(document_id: int):
    """Another connection holds the document's row (as a pipeline stage does) while the block runs."""
    locked, release = threading.Event(), threading.Event()

    def hold():
        with transaction.atomic():
            Document.objects.select_for_update().get(pk=document_id)
            locked.set()
            release.wait(60)  # set when the block ends; the bound only ends a hung test

    result: dict = {}
    holder = in_another_connection(result, hold)
    holder.start()
    try:
        assert locked.wait(30), result  # a hang guard for something that happens at once
        yield
    finally:
        release.set()
        holder.join()
    assert "error" not in result, result


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_purges_a_deleted_bot(celery_worker, organization, admin_user):
    """Through the API and a real worker: every row of the bot goes (documents, chunks, vectors, the stored file,
    term statistics, conversations, messages, Q&A pairs, website sources and pages) and the bot row last; another
    bot's stay."""
    bot, document = bot_with_rows(organization)
    other, kept = bot_with_rows(organization)
    path = document.file.path

    response = client_for(admin_user).delete(f"/api/v1/orgs/{organization.slug}/bots/{bot.pk}/")

    assert response.status_code == 204
    # The purge runs in the worker's thread; this waits for the bot row, which goes last.
    until(lambda: not Bot.all_objects.filter(pk=bot.pk).exists(), "the worker's purge of the bot")
    for model in (Document, Chunk, LexemeStat, Conversation, QAPair, CrawlSource):
        assert set(model.objects.values_list("bot_id", flat=True)) == {other.pk}, model
    assert set(CrawlPage.objects.values_list("source__bot_id", flat=True)) == {other.pk}
    assert not ChunkEmbedding.objects.filter(chunk__bot_id=bot.pk).exists()
    assert set(Message.objects.values_list("conversation__bot_id", flat=True)) == {other.pk}
    assert not os.path.exists(path)
    assert os.path.exists(kept.file.path)
    assert list(Bot.objects.values_list("pk", flat=True)) == [other.pk]


@pytest.mark.django_db
def test_a_purge_that_spends_its_budget_publishes_its_rest(organization, settings, django_capture_on_commit_callbacks):
    """One batch, then the budget is spent: the task answers PURGE_MORE, publishes itself again at once and notes
    when (the recovery sweep's lease); the next runs finish."""
    settings.BOT_PURGE_BATCH_CONVERSATIONS = 2
    settings.BOT_PURGE_BUDGET_SECONDS = 0
    bot, _document = bot_with_rows(organization, conversations=5)
    bot_delete(bot=bot)
    Bot.all_objects.filter(pk=bot.pk).update(purge_published_at=timezone.now() - timedelta(minutes=5))
    published = Published(BULK_LIST)

    with django_capture_on_commit_callbacks(execute=True):
        assert bot_purge_task.apply(args=[bot.pk]).get() == PURGE_MORE

    # One round: the documents' batch (its one document) and the conversations' (2 of 5).
    assert Conversation.objects.filter(bot_id=bot.pk).count() == 3
    assert not Document.objects.filter(bot_id=bot.pk).exists()
    assert _purges(published, bot) == [bot.pk]
    published.clear()
    assert Bot.all_objects.get(pk=bot.pk).purge_published_at > timezone.now() - timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        results = [bot_purge_task.apply(args=[bot.pk]).get() for _ in range(3)]
    assert results == [PURGE_MORE, PURGE_MORE, PURGE_DONE]  # 2 more conversations, the last one, then the bot row
    assert not Bot.all_objects.filter(pk=bot.pk).exists()
    assert not Conversation.objects.filter(bot_id=bot.pk).exists()
    assert _purges(published, bot) == [bot.pk] * 2
    published.clear()


@pytest.mark.django_db
def test_the_recovery_sweep_publishes_again_a_lost_purge(organization, django_capture_on_commit_callbacks):
    """A deleted bot whose purge was published longer ago than RECOVERY_LEASE_SECONDS (a publish lost with the broker
    down, a worker lost) is published again, once; a recent one and a bot not deleted are left alone."""
    lost, recent, live = (BotFactory(organization=organization) for _ in range(3))
    for bot in (lost, recent):
        bot_delete(bot=bot)
    long_ago = timezone.now() - timedelta(seconds=settings.RECOVERY_LEASE_SECONDS + 60)
    Bot.all_objects.filter(pk=lost.pk).update(purge_published_at=long_ago)
    published = Published(BULK_LIST)

    with django_capture_on_commit_callbacks(execute=True):
        first = work_recover_stuck.apply().get()
        second = work_recover_stuck.apply().get()

    assert (first["bot_purges_requeued"], second["bot_purges_requeued"]) == (1, 0)
    assert _purges(published, lost, recent, live) == [lost.pk]
    published.clear()
    assert Bot.all_objects.get(pk=lost.pk).purge_published_at > long_ago
    assert Bot.objects.filter(pk=live.pk).exists()


@pytest.mark.django_db
def test_a_deleted_bots_sources_are_not_crawled_again(organization):
    """The scheduled re-crawls skip a deleted bot's sources (they go with its purge); a live bot's due one starts."""
    from apps.sources.services import sources_recrawl_due

    deleted, live = BotFactory(organization=organization), BotFactory(organization=organization)
    sources = {bot.pk: CrawlSourceFactory(bot=bot, next_crawl_at=timezone.now()) for bot in (deleted, live)}
    bot_delete(bot=deleted)

    assert sources_recrawl_due() == 1
    statuses = {bot_id: CrawlSource.objects.get(pk=source.pk).status for bot_id, source in sources.items()}
    assert statuses[deleted.pk] == sources[deleted.pk].status != statuses[live.pk]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_document_in_use_is_skipped_then_the_last_step_comes_back_later(organization):
    """While another connection holds one document (a pipeline stage): the batches delete the rest around it, and the
    last transaction fails on it at once (NOWAIT: waiting could deadlock with that stage's insert checking the bot
    row) and rolls back whole: PURGE_BUSY, the task published again after PURGE_BUSY_COUNTDOWN seconds. Once the
    document is free the purge finishes."""
    bot = BotFactory(organization=organization)
    held, free = (ingest(bot, f"guide-{n}.md", samples.md() + f"\n\nPage {n}.".encode()) for n in range(2))
    Conversation.objects.create(organization=organization, bot=bot)
    pair = QAPair.objects.create(organization=organization, bot=bot, question="Why?", answer="Because.")
    bot_delete(bot=bot)
    published = Published(BULK_LIST)
    with document_held(held.pk):
        assert bot_purge_task.apply(args=[bot.pk]).get() == PURGE_BUSY

    assert list(Document.objects.filter(bot_id=bot.pk).values_list("pk", flat=True)) == [held.pk]
    assert not Document.objects.filter(pk=free.pk).exists() and not Conversation.objects.filter(bot_id=bot.pk).exists()
    assert Chunk.objects.filter(document_id=held.pk).exists() and QAPair.objects.filter(pk=pair.pk).exists()
    assert Bot.all_objects.filter(pk=bot.pk).exists()
    # The delete's own publish (it committed) and the busy purge's, after PURGE_BUSY_COUNTDOWN seconds.
    purges = published.find("bots.purge", lambda m: m.args == (bot.pk,))
    published.clear()
    assert len(purges) == 2 and [bool(m.eta) for m in purges].count(True) == 1

    assert bot_purge(bot_id=bot.pk) == PURGE_DONE
    assert not Bot.all_objects.filter(pk=bot.pk).exists() and not Document.objects.filter(bot_id=bot.pk).exists()
    assert not QAPair.objects.filter(pk=pair.pk).exists()


@pytest.mark.django_db
def test_a_rolled_back_delete_keeps_the_bot_and_publishes_nothing(organization, django_capture_on_commit_callbacks):
    bot = BotFactory(organization=organization)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        bot_delete(bot=bot)
        raise RuntimeError("abort")

    assert callbacks == []
    assert Bot.objects.get(pk=bot.pk).deleted_at is None


@pytest.mark.django_db
def test_the_first_purge_round_stops_the_bots_running_crawls(organization):
    """A running or queued crawl of the deleted bot is asked to stop (it would keep adding documents); another bot's
    crawl runs on."""
    from apps.bots.events import bot_purging_send
    from apps.sources.crawl import crawl_run

    deleted, live = BotFactory(organization=organization), BotFactory(organization=organization)
    running = {bot.pk: CrawlSourceFactory(bot=bot, status=CrawlSource.Status.RUNNING, run=1) for bot in (deleted, live)}
    bot_delete(bot=deleted)

    assert bot_purging_send(organization_id=organization.pk, bot_id=deleted.pk) == 0  # nothing else to delete

    asked = dict(
        CrawlSource.objects.filter(pk__in=[s.pk for s in running.values()]).values_list("bot_id", "cancel_requested")
    )
    assert asked == {deleted.pk: True, live.pk: False}
    assert crawl_run(organization_id=organization.pk, source_id=running[deleted.pk].pk, run=1) == "cancelled"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_batch_leaves_a_document_whose_newer_version_is_in_use(organization):
    """A pipeline stage holds a new version: the batch does not take the version it replaces (deleting it updates the
    held row's `replaces`: waiting there while the stage waits for the old one would deadlock); the rest goes."""
    from apps.documents.receivers import on_bot_purging
    from apps.documents.services.upload import IncomingFile, document_upload

    bot = BotFactory(organization=organization)
    old = ingest(bot, "guide.md", samples.md())
    changed = samples.md().replace(b"Refunds are", b"Parcels and refunds are")
    [result_new] = document_upload(organization=organization, bot=bot, files=[IncomingFile("guide.md", changed)],
                                   enqueue=False)  # fmt: skip
    new = result_new.document
    other = ingest(bot, "other.md", samples.md() + b"\n\nOther.")
    assert new.replaces_id == old.pk
    published = Published(BULK_LIST)
    bot_delete(bot=bot)
    with document_held(new.pk):
        deleted = on_bot_purging("bots", organization_id=organization.pk, bot_id=bot.pk)

    assert deleted == 1
    assert set(Document.objects.filter(bot_id=bot.pk).values_list("pk", flat=True)) == {old.pk, new.pk}
    assert not Document.objects.filter(pk=other.pk).exists()
    assert bot_purge(bot_id=bot.pk) == PURGE_DONE
    assert not Document.objects.filter(bot_id=bot.pk).exists()
    assert _purges(published, bot) == [bot.pk]  # the delete's (it committed), for no worker here
    published.clear()
