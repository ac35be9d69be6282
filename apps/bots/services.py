"""Bot writes: create (plan limit), update (allow-list), delete, identity-secret rotation."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.bots.events import bot_deleting_send
from apps.bots.models import Bot, new_identity_secret
from apps.core.languages import AUTO, is_default_message, message
from apps.organizations.services import plan_limit_check

EDITABLE = (
    "name", "description", "system_prompt", "llm_model", "temperature", "max_answer_tokens", "top_k", "min_score",
    "dense_weight", "strict_grounding", "language", "fallback_message", "greeting", "suggested_questions",
    "widget_theme", "allowed_origins",
)  # fmt: skip


@transaction.atomic
def bot_create(*, organization, data: dict, created_by=None) -> Bot:
    # Lock the organization row so two concurrent creations cannot both pass the plan limit.
    type(organization).objects.select_for_update().filter(pk=organization.pk).first()
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


@transaction.atomic
def bot_delete(*, bot: Bot) -> None:
    """Delete a bot with what other apps keep of it: the `bot_deleting` event lets them remove their
    rows first, set-based (documents: chunks, vectors and, after commit, files; conversations and messages)."""
    bot_deleting_send(organization_id=bot.organization_id, bot_id=bot.pk)
    bot.delete()


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
