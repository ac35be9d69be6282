"""`manage.py ingest_dir <bot> <folder>`: load every supported file of a folder into a bot."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.bots.models import Bot
from apps.core.exceptions import ApplicationError
from apps.documents.extraction import extension_kind
from apps.documents.services.pipeline import document_ingest_now
from apps.documents.services.upload import IncomingFile, document_upload


class Command(BaseCommand):
    help = "Ingest a folder (recursively) into a bot, with a progress bar and a summary."

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
        for path in tqdm(paths, unit="file", file=self.stderr._out, disable=None):
            name = str(path.relative_to(root))
            try:
                outcome = document_upload(
                    organization=target.organization,
                    bot=target,
                    files=[IncomingFile(name=name, data=path.read_bytes())],
                    enqueue=use_worker,
                )[0]
            except ApplicationError as exc:
                summary["failed"].append((name, str(exc.detail)))
                continue
            if outcome.outcome == "duplicate":
                summary["duplicate"].append((name, f"same content as document {outcome.document.pk}"))
            elif use_worker:
                summary["queued"].append((name, ""))
            else:
                document = document_ingest_now(document=outcome.document)
                key = "ready" if document.status == "ready" else "failed"
                summary[key].append((name, document.error if key == "failed" else f"{document.chunk_count} chunks"))
        self.stdout.write(
            f"\n{len(paths)} file(s): {len(summary['ready'])} ready, {len(summary['queued'])} queued, "
            f"{len(summary['duplicate'])} duplicate, {len(summary['failed'])} failed; {skipped} unsupported skipped."
        )
        for key in ("duplicate", "failed"):
            for name, reason in summary[key]:
                self.stdout.write(f"  {key:9} {name}: {reason}")
