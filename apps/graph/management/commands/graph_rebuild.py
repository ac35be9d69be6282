"""`manage.py graph_rebuild (--org SLUG | --all)`: rebuild organizations' knowledge graphs from PostgreSQL."""

from django.core.management.base import BaseCommand, CommandError

from apps.core.graph import graph_enabled
from apps.core.progress_report import ProgressReport
from apps.graph.sync import graph_rebuild
from apps.organizations.models import Organization


class Command(BaseCommand):
    help = (
        "Delete an organization's subgraph (DETACH DELETE, in batches) and rebuild it from PostgreSQL. "
        "Use after turning the graph on, after restoring a graph backup, or to repair drift."
    )

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--org", action="append", metavar="SLUG", help="organization slug (repeatable)")
        target.add_argument("--all", action="store_true", help="every organization")

    def handle(self, *args, org=None, all=False, **options):
        if not graph_enabled():
            raise CommandError("The knowledge graph is off (NEO4J_URI is unset).")
        organizations = Organization.objects.order_by("id")
        if org:
            organizations = organizations.filter(slug__in=org)
            missing = sorted(set(org) - set(organizations.values_list("slug", flat=True)))
            if missing:
                raise CommandError(f"Unknown organization(s): {', '.join(missing)}")
        report = ProgressReport(
            total=organizations.count(), unit="organization", label="graph_rebuild", stream=self.stdout._out
        )
        with report:
            for organization in organizations:
                counts = graph_rebuild(
                    organization=organization,
                    progress=lambda message, slug=organization.slug: report.update(0, note=f"{slug}: {message}"),
                )
                self.stdout.write(
                    self.style.SUCCESS(
                        f"{organization.slug}: {counts['users']} users, {counts['content']} content items, "
                        f"{counts['completed']} completions, {counts['interactions']} interaction aggregates"
                    )
                )
                report.update(1, note=f"{organization.slug} rebuilt")
