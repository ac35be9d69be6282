"""`manage.py reembed [--org SLUG] [--bot ID] [--missing-only] [--prune]`: rebuild vectors with the current model."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.embeddings import get_embedder
from apps.core.progress_report import ProgressReport
from apps.documents.models import Chunk, ChunkEmbedding
from apps.documents.services.embeddings import chunks_reembed


class Command(BaseCommand):
    help = "Re-embed chunks (all, one organization, or one bot) with the configured embedding model."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="organization slug")
        parser.add_argument("--bot", type=int, help="bot id")
        parser.add_argument("--missing-only", action="store_true", help="only chunks without a current vector")
        parser.add_argument("--prune", action="store_true", help="then delete vectors of other models")

    def handle(self, *args, org=None, bot=None, missing_only=False, prune=False, **options):
        chunks = Chunk.objects.all()
        if org:
            chunks = chunks.filter(organization__slug=org)
        if bot:
            chunks = chunks.filter(bot_id=bot)
        if (org or bot) and not chunks.exists():
            raise CommandError("No chunks match; check --org / --bot.")
        embedder = get_embedder()
        if missing_only:
            chunks = chunks.exclude(embeddings__model=embedder.name)
        total = chunks.count()
        self.stdout.write(f"Re-embedding {total} chunk(s) with {embedder.name} ({embedder.dimensions} dimensions)")
        with ProgressReport(total=total, unit="chunk", label="reembed", stream=self.stderr._out) as report:
            written = chunks_reembed(chunks=chunks, progress=report.update)
        pruned = 0
        if prune:
            pruned, _ = ChunkEmbedding.objects.filter(chunk__in=chunks).exclude(model=embedder.name).delete()
        self.stdout.write(self.style.SUCCESS(f"Done: {written} vector(s) written, {pruned} old vector(s) pruned."))
