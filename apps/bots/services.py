"""Bot writes: create (plan limit), update (allow-list), delete (and the background purge), identity-secret
rotation."""

import logging
import time
from datetime import timedelta

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from rest_framework.exceptions import NotFound

from apps.bots.events import bot_deleting_send, bot_purging_send
from apps.bots.models import Bot, new_identity_secret
from apps.core.languages import AUTO, is_default_message, message
from apps.core.purge import PURGE_BUSY, PURGE_DONE, PURGE_MORE, purge_continue, purges_recover
from apps.core.tasks import enqueue_on_commit
from apps.organizations.services import plan_limit_check

logger = logging.getLogger(__name__)


EDITABLE = (
    "name", "description", "system_prompt", "llm_model", "temperature", "max_answer_tokens", "top_k", "min_score",
    "dense_weight", "strict_grounding", "language", "fallback_message", "greeting", "suggested_questions",
    "widget_theme", "allowed_origins",
)  # fmt: skip


@transaction.atomic
def bot_create(*, organization, data: dict, created_by=None) -> Bot:
    # Lock the organization row so two concurrent creations cannot both pass the plan limit; one deleted since the
    # request read it (`Organization.objects` hides it) gets no bot.
    if type(organization).objects.select_for_update().filter(pk=organization.pk).first() is None:
        raise NotFound("Organization not found.")
    used = Bot.objects.filter(organization=organization).count()
    plan_limit_check(organization=organization, limit="max_bots", used=used)
    bot = Bot(organization=organization, created_by=created_by, **{k: v for k, v in data.items() if k in EDITABLE})
    _default_sentences_follow_language(bot, given=data)
    bot.full_clean()
    bot.save()
    return bot


def bot_update(*, bot: Bot, data: dict) -> tuple[Bot, bool]:
    changed = [field for field in EDITABLE if field in data and getattr(bot, field) != data[field]]
    for field in changed:
        setattr(bot, field, data[field])
    if "language" in changed:
        changed += [field for field in _default_sentences_follow_language(bot, given=data) if field not in changed]
    if changed:
        bot.full_clean()
        bot.save(update_fields=[*changed, "updated_at"])
    return bot, bool(changed)


def _default_sentences_follow_language(bot: Bot, *, given: dict) -> list[str]:
    """The fallback message and greeting, while they are Beacon's default sentences (in any language) and
    not given now, follow the bot's language (`auto`: English; the fallback then follows each question's
    language when answering, apps/conversations/services.py). Returns the fields changed."""
    language = "en" if bot.language == AUTO else bot.language
    changed = []
    for field, key in (("fallback_message", "fallback"), ("greeting", "greeting")):
        current = getattr(bot, field)
        if field not in given and is_default_message(current, key) and current != message(language, key):
            setattr(bot, field, message(language, key))
            changed.append(field)
    return changed


def bot_delete(*, bot: Bot) -> None:
    """Delete a bot for its owner (docs/bots.md#deleting-a-bot): from this commit on it is gone for the API, the
    widget, the admin and the plan's bot limit (`Bot.objects` hides it), and a worker purges its rows in batches
    (`bot_purge`, published after commit; the recovery sweep publishes it again if that is lost). The request's
    cost no longer grows with the bot: deleting a bot of 147,499 chunks took 3.76 s in the request (10.8 s on a
    loaded machine), holding every row locked for as long."""
    now = timezone.now()
    with transaction.atomic():
        if Bot.objects.filter(pk=bot.pk).update(deleted_at=now, purge_published_at=now, updated_at=now):
            _purge_enqueue(bot.pk)
    bot.deleted_at = bot.purge_published_at = now


def _purge_enqueue(bot_id: int, countdown: float = 0) -> None:
    from workers.tasks.bots import bot_purge_task

    enqueue_on_commit(bot_purge_task, bot_id, **({"countdown": countdown} if countdown else {}))


def bot_purge(*, bot_id: int, budget_seconds: float | None = None) -> str:
    """Purge a deleted bot: the apps that own rows of it delete them a batch per transaction (`bot_purging`, skipping
    rows in use) until none is left, then one transaction deletes what came in or was skipped meanwhile
    (`bot_deleting`) and the bot row. PURGE_DONE when the bot is gone (a bot not deleted is never touched);
    PURGE_MORE when `budget_seconds` was spent after a batch; PURGE_BUSY when the last transaction found a row in use
    (its receivers lock with NOWAIT: a pipeline stage holding a document, whose insert waits on the bot row at commit,
    would otherwise deadlock with it) or lost a race with a writer: rolled back whole, nothing half-deleted. The
    caller publishes the rest either way (`bot_purge_continue`). Two purges at once: one may end PURGE_BUSY."""
    organization_id = (
        Bot.all_objects.filter(pk=bot_id, deleted_at__isnull=False).values_list("organization_id", flat=True).first()
    )
    if organization_id is None:
        return PURGE_DONE
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    while bot_purging_send(organization_id=organization_id, bot_id=bot_id):
        if deadline is not None and time.monotonic() >= deadline:
            return PURGE_MORE
    try:
        with transaction.atomic():
            bot = Bot.all_objects.select_for_update(nowait=True).filter(pk=bot_id, deleted_at__isnull=False).first()
            if bot is not None:
                bot_deleting_send(organization_id=bot.organization_id, bot_id=bot.pk)
                bot.delete()
    except (OperationalError, IntegrityError) as exc:  # a lock not available, a row written meanwhile
        logger.warning("bot_purge_busy", extra={"bot_id": bot_id, "reason": str(exc).splitlines()[0][:200]})
        return PURGE_BUSY
    return PURGE_DONE


def bot_purge_continue(*, bot_id: int, countdown: float = 0) -> None:
    """Publish the rest of a purge (after `countdown` seconds), noting the publish (the recovery sweep's lease)."""
    purge_continue(Bot, bot_id, enqueue=_purge_enqueue, countdown=countdown)


def bots_purge_recover(*, now=None) -> int:
    """Publish again the bots' purges quiet for longer than RECOVERY_LEASE_SECONDS (`core.purge.purges_recover`; a
    running purge publishes its continuation every BOT_PURGE_BUDGET_SECONDS). Returns how many."""
    return purges_recover(Bot, enqueue=_purge_enqueue, now=now)


def bot_identity_secret_rotate(*, bot: Bot) -> Bot:
    """A new HMAC secret; signatures made with the old one stop verifying at once."""
    bot.identity_secret = new_identity_secret()
    bot.save(update_fields=["identity_secret", "updated_at"])
    return bot


# --------------------------------------------------------------------------- calibrated refusal
# The measurement is apps/documents/calibration.py (it reads the knowledge base); bots keeps the
# result and the debounce marker of a pending run (docs/refusal.md).


def bot_calibration_store(*, bot_id: int, organization_id: int, value: float | None, figures: dict) -> int:
    """Store a calibration run's cut-off (None: nothing to calibrate on) and its figures. Returns the
    rows written (0 when the bot is gone)."""
    return Bot.objects.filter(pk=bot_id, organization_id=organization_id).update(
        calibrated_min_score=value, calibrated_at=timezone.now(), calibration=figures, updated_at=timezone.now()
    )


def bot_calibration_request_mark(*, bot_id: int, stale_after: timedelta) -> bool:
    """Note that the bot's knowledge base changed: set its marker to now. True when a run must be
    published: none was pending (the marker was empty), or the pending one looks lost (its marker
    older than `stale_after`, so it never woke up). False when a pending run will pick this change
    up, or when the bot is gone."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE bots_bot b SET calibration_requested_at = now() "
            "FROM (SELECT id, calibration_requested_at AS previous FROM bots_bot WHERE id = %s FOR UPDATE) o "
            "WHERE b.id = o.id RETURNING o.previous",
            [bot_id],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    previous = row[0]
    return previous is None or previous < timezone.now() - stale_after


def bot_calibration_request_clear(*, bot_id: int, requested_at=None) -> bool:
    """Clear the marker; with `requested_at`, only if no newer change came in since (False then:
    the caller schedules another run)."""
    rows = Bot.objects.filter(pk=bot_id)
    if requested_at is not None:
        rows = rows.filter(calibration_requested_at=requested_at)
    return bool(rows.update(calibration_requested_at=None))


# --------------------------------------------------------------------------- a deleted organization's bots


def organization_bots_hide(*, organization_id: int) -> int:
    """The organization is being deleted (`organization_deleted`, in its transaction): every bot of it is deleted for
    everyone at once (its routes, its widget); their purges are driven by the organization's (no purge is published
    of its own, so the bots' recovery sweep leaves them to it). Returns how many."""
    now = timezone.now()
    return Bot.objects.filter(organization_id=organization_id).update(deleted_at=now, updated_at=now)


def organization_bots_purge_round(*, organization_id: int) -> int:
    """One round of each bot's purge of the organization (`organization_purging`): a batch of its rows, or its last
    transaction when none is left. A bot made after the delete (a request already past its lookups, an API key another
    process read before it) is hidden first. Returns how many bots moved (0: none left, or every one is busy)."""
    organization_bots_hide(organization_id=organization_id)
    moved = 0
    for bot_id in Bot.all_objects.filter(organization_id=organization_id, deleted_at__isnull=False).values_list(
        "pk", flat=True
    ):
        if bot_purge(bot_id=bot_id, budget_seconds=0) != PURGE_BUSY:
            moved += 1
    return moved
