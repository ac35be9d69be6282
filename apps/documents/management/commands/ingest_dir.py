"""`manage.py ingest_dir <bot> <folder>`: load every supported file of a folder into a bot."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot
from apps.core.exceptions import ApplicationError
from apps.core.progress_report import ProgressReport
from apps.documents.extraction import extension_kind
from apps.documents.services.pipeline import document_ingest_now
from apps.documents.services.upload import IncomingFile, document_upload


class Command(BaseCommand):
    help = (
        "Ingest a folder (recursively) into a bot, with progress (a bar on a terminal, lines otherwise) and a summary."
    )

    def add_arguments(self, parser):
        parser.add_argument("bot", help="bot id or public_id")
        parser.add_argument("folder")
        parser.add_argument(
            "--async", dest="use_worker", action="store_true", help="queue for the Celery worker instead of now"
        )

    def handle(self, *args, bot, folder, use_worker=False, **options):
        target = (
            Bot.objects.select_related("organization__plan")
            .filter(**({"pk": int(bot)} if bot.isdigit() else {"public_id": bot}))
            .first()
        )
        if target is None:
            raise CommandError(f"No bot '{bot}'.")
        root = Path(folder)
        if not root.is_dir():
            raise CommandError(f"'{folder}' is not a folder.")
        paths = sorted(p for p in root.rglob("*") if p.is_file() and extension_kind(p.name))
        skipped = sum(1 for p in root.rglob("*") if p.is_file() and not extension_kind(p.name))
        summary = {"ready": [], "queued": [], "duplicate": [], "failed": []}
        with ProgressReport(total=len(paths), unit="file", label="ingest_dir", stream=self.stderr._out) as report:
            for path in paths:
                name = str(path.relative_to(root))
                key, reason = self._ingest(target, path, name, use_worker)
                summary[key].append((name, reason))
                report.update(1, note=name)
        self.stdout.write(
            f"\n{len(paths)} file(s): {len(summary['ready'])} ready, {len(summary['queued'])} queued, "
            f"{len(summary['duplicate'])} duplicate, {len(summary['failed'])} failed; {skipped} unsupported skipped."
        )
        for key in ("duplicate", "failed"):
            for name, reason in summary[key]:
                self.stdout.write(f"  {key:9} {name}: {reason}")

    def _ingest(self, target: Bot, path: Path, name: str, use_worker: bool) -> tuple[str, str]:
        """Upload one file (and process it now unless queued): (summary key, reason)."""
        try:
            outcome = document_upload(
                organization=target.organization,
                bot=target,
                files=[IncomingFile(name=name, data=path.read_bytes())],
                enqueue=use_worker,
            )[0]
        except ApplicationError as exc:
            return "failed", str(exc.detail)
        if outcome.outcome == "duplicate":
            return "duplicate", f"same content as document {outcome.document.pk}"
        if use_worker:
            return "queued", ""
        document = document_ingest_now(document=outcome.document)
        if document.status == "ready":
            return "ready", f"{document.chunk_count} chunks"
        return "failed", document.error
