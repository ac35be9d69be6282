"""`manage.py graph_retry (--organization SLUG | --all)`: requeue graph outbox rows the graph rejected."""

from django.core.management.base import BaseCommand, CommandError

from apps.graph.sync import graph_outbox_retry
from apps.organizations.models import Organization


class Command(BaseCommand):
    help = (
        "Requeue dead-lettered graph outbox rows (rows the knowledge graph rejected): each becomes a fresh "
        "pending row (attempts 0) that the next drain applies. Run after fixing the cause (see last_error "
        "in the GraphOutbox admin)."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--organization", metavar="SLUG", help="only this organization's dead rows")
        target.add_argument("--all", action="store_true", help="every organization's dead rows")

    def handle(self, *args, organization=None, all=False, **options):
        organization_id = None
        if organization:
            organization_id = Organization.objects.filter(slug=organization).values_list("id", flat=True).first()
            if organization_id is None:
                raise CommandError(f"Unknown organization: {organization}")
        requeued = graph_outbox_retry(organization_id=organization_id)
        self.stdout.write(self.style.SUCCESS(f"{requeued} dead graph outbox row(s) requeued."))
