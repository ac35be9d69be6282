"""Create (once) a demo organization and its owner; print the credentials."""

import json
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core import embedded
from apps.organizations.models import Organization, Plan
from apps.organizations.services import organization_create

DEMO_EMAIL = "owner@demo.beacon.local"
DEMO_SLUG = "demo"


class Command(BaseCommand):
    help = "Create the demo organization 'demo' with an owner (also a superuser for the admin). Idempotent."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        store = embedded.home() / "demo-credentials.json"
        user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
        if user is None or not store.exists():
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_superuser(email=DEMO_EMAIL, password=password, full_name="Demo Owner")
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            store.write_text(json.dumps({"email": DEMO_EMAIL, "password": password}))
            store.chmod(0o600)
        credentials = json.loads(store.read_text())
        if not Organization.objects.filter(slug=DEMO_SLUG).exists():
            # On the Pro plan, so a first look is not stopped by the Free plan's one-bot limit.
            organization_create(user=user, name="Demo Organization", slug=DEMO_SLUG, plan=Plan.objects.get(code="pro"))
        self.stdout.write(
            f"Demo organization '{DEMO_SLUG}'; owner {credentials['email']} / password {credentials['password']}"
        )
