"""`manage.py rebuild_lexeme_stats [--bot ID] [--check]`: recount the bots' BM25 term statistics."""

from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot
from apps.documents.lexeme_stats import lexeme_stats_rebuild, lexeme_stats_recount, lexeme_stats_stored


class Command(BaseCommand):
    help = "Recount each bot's lexeme document frequencies and chunk totals from its searchable chunks."

    def add_arguments(self, parser):
        parser.add_argument("--bot", type=int, help="bot id (default: every bot)")
        parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a bot's counts differ")

    def handle(self, *args, bot=None, check=False, **options):
        bots = Bot.objects.order_by("id")
        if bot:
            bots = bots.filter(pk=bot)
            if not bots.exists():
                raise CommandError(f"No bot with id {bot}.")
        differing = []
        for bot_id in bots.values_list("id", flat=True):
            if check:
                if lexeme_stats_recount(bot_id=bot_id) != lexeme_stats_stored(bot_id=bot_id):
                    differing.append(bot_id)
                    self.stdout.write(f"bot {bot_id}: statistics differ from a recount")
                continue
            chunks, lexemes = lexeme_stats_rebuild(bot_id=bot_id)
            self.stdout.write(f"bot {bot_id}: {chunks} chunk(s), {lexemes} lexeme(s)")
        if differing:
            raise CommandError(f"{len(differing)} bot(s) differ; run without --check to rebuild them.")
        self.stdout.write(self.style.SUCCESS("Done."))
