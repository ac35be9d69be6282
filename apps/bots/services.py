"""Bot writes: create (plan limit), update (allow-list), delete, identity-secret rotation."""

from django.db import transaction

from apps.bots.events import bot_deleting_send
from apps.bots.models import Bot, new_identity_secret
from apps.organizations.services import plan_limit_check

EDITABLE = (
    "name", "description", "system_prompt", "llm_model", "temperature", "max_answer_tokens", "top_k", "min_score",
    "dense_weight", "fallback_message", "greeting", "suggested_questions", "widget_theme", "allowed_origins",
)  # fmt: skip


@transaction.atomic
def bot_create(*, organization, data: dict, created_by=None) -> Bot:
    # Lock the organization row so two concurrent creations cannot both pass the plan limit.
    type(organization).objects.select_for_update().filter(pk=organization.pk).first()
    used = Bot.objects.filter(organization=organization).count()
    plan_limit_check(organization=organization, limit="max_bots", used=used)
    bot = Bot(organization=organization, created_by=created_by, **{k: v for k, v in data.items() if k in EDITABLE})
    bot.full_clean()
    bot.save()
    return bot


def bot_update(*, bot: Bot, data: dict) -> tuple[Bot, bool]:
    changed = [field for field in EDITABLE if field in data and getattr(bot, field) != data[field]]
    for field in changed:
        setattr(bot, field, data[field])
    if changed:
        bot.full_clean()
        bot.save(update_fields=[*changed, "updated_at"])
    return bot, bool(changed)


@transaction.atomic
def bot_delete(*, bot: Bot) -> None:
    """Delete a bot with what other apps keep of it: the `bot_deleting` event lets them remove their
    rows first (documents: chunks, vectors and, after commit, files); conversations go by cascade."""
    bot_deleting_send(organization_id=bot.organization_id, bot_id=bot.pk)
    bot.delete()


def bot_identity_secret_rotate(*, bot: Bot) -> Bot:
    """A new HMAC secret; signatures made with the old one stop verifying at once."""
    bot.identity_secret = new_identity_secret()
    bot.save(update_fields=["identity_secret", "updated_at"])
    return bot
