"""`manage.py content_embed_missing [--org SLUG] [--now]`: embed catalog items whose vector for the
current model is missing or stale."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.embeddings import get_embedder
from apps.organizations.models import Organization
from apps.progress.services import content_embed_missing


class Command(BaseCommand):
    help = "Embed catalog items without a current vector (after a model change, or a failed task)."

    def add_arguments(self, parser):
        parser.add_argument("--org", help="organization slug (default: every organization)")
        parser.add_argument("--now", action="store_true", help="embed in this process instead of enqueueing tasks")

    def handle(self, *args, org=None, now=False, **options):
        organization = None
        if org:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"No organization with slug {org!r}.")
        embedder = get_embedder()
        count = content_embed_missing(organization=organization, enqueue=not now)
        verb = "Embedded" if now else "Queued"
        self.stdout.write(self.style.SUCCESS(f"{verb} {count} item(s) for {embedder.name}."))
