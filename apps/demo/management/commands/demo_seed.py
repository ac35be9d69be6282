"""`manage.py demo_seed`: the demo organization with its owner (`seed_demo`) and its content (bot,
documents, catalog, learners, recommender; apps/demo/services.py). Idempotent; devstack runs the
same seed unless `--no-seed` or BEACON_DEMO_SEED=0."""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.demo.services import demo_first_run


class Command(BaseCommand):
    help = "Seed the demo organization 'demo' with a trained bot, a catalog, learners and a recommender. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=settings.BEACON_PUBLIC_URL or "http://127.0.0.1:8000")

    def handle(self, *args, base_url, **options):
        call_command("seed_demo", stdout=self.stdout)
        for label, url in demo_first_run(base_url.rstrip("/")):
            self.stdout.write(f"  {label:<20}{url}")
