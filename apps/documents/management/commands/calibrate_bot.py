"""`manage.py calibrate_bot <bot>` (or `--all`): measure refusal cut-offs now, in this process
(docs/refusal.md). `--all` recalibrates every bot, e.g. after a change of the retrieval score."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot
from apps.documents.calibration import bot_calibrate


class Command(BaseCommand):
    help = "Calibrate a bot's refusal cut-off on its own corpus and print the figures."

    def add_arguments(self, parser):
        parser.add_argument("bot", nargs="?", help="bot id or public_id")
        parser.add_argument("--all", dest="every", action="store_true", help="every bot, one line each")

    def handle(self, *args, bot=None, every=False, **options):
        if every:
            for target in Bot.objects.select_related("organization").order_by("id"):
                cutoff = bot_calibrate(bot=target)
                target.refresh_from_db()
                self.stdout.write(
                    f"bot {target.pk}: calibrated {cutoff}, in force {target.effective_min_score}, "
                    f"out-of-domain answered {target.calibration.get('false_answer_rate')}, "
                    f"in-domain answered {target.calibration.get('in_domain_answered_rate')}"
                )
            return
        if not bot:
            raise CommandError("Name a bot (id or public_id), or use --all.")
        target = (
            Bot.objects.select_related("organization")
            .filter(**({"pk": int(bot)} if bot.isdigit() else {"public_id": bot}))
            .first()
        )
        if target is None:
            raise CommandError(f"No bot '{bot}'.")
        cutoff = bot_calibrate(bot=target)
        target.refresh_from_db()
        if cutoff is None:
            self.stdout.write(
                f"Bot {target.pk} has no ready documents: not calibrated; its cut-off stays "
                f"{target.effective_min_score}."
            )
            return
        figures = target.calibration
        self.stdout.write(
            f"Bot {target.pk}: calibrated cut-off {cutoff} (in force: {target.effective_min_score}"
            f"{', the owner override' if target.min_score is not None else ''}).\n"
            f"Out-of-domain answered: {figures['false_answer_rate']} (target {figures['target_false_answer_rate']}) "
            f"on {figures['out_of_domain_questions']} questions; in-domain answered: "
            f"{figures['in_domain_answered_rate']} on {figures['in_domain_questions']} synthetic questions "
            f"(target {figures.get('target_missed_answer_rate')} refused; decided by {figures.get('decided_by')})."
        )
        self.stdout.write(json.dumps(figures, indent=2))
