"""Create (once) the fuzz organization and its owner; print shell exports for `make fuzz`.

`make fuzz` points schemathesis at a live `make run` instance. It creates, updates and deletes what
it is allowed to, so it works in an organization of its own (never the demo one): 'fuzz', on the
Pro plan, owned by fuzz-owner@fuzz.beacon.local (no usable password, not staff). The printed access
token is signed with this checkout's settings, so run the command with the same settings as the
server (`make fuzz` does)."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework_simplejwt.tokens import AccessToken

from apps.organizations.models import Membership, Organization, Plan, Role
from apps.organizations.services import organization_create

FUZZ_EMAIL = "fuzz-owner@fuzz.beacon.local"
FUZZ_SLUG = "fuzz"


class Command(BaseCommand):
    help = "Create the fuzz organization 'fuzz' and its owner (idempotent); print FUZZ_ORG_SLUG and FUZZ_TOKEN."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=int, default=4, help="Lifetime of the printed access token.")

    @transaction.atomic
    def handle(self, *args, hours, **options):
        User = get_user_model()
        user = User.objects.filter(email__iexact=FUZZ_EMAIL).first()
        if user is None:
            user = User.objects.create_user(email=FUZZ_EMAIL, password=None, full_name="Fuzz Owner")
        organization = Organization.objects.filter(slug=FUZZ_SLUG).first()
        if organization is None:
            organization = organization_create(
                user=user, name="Fuzz Organization", slug=FUZZ_SLUG, plan=Plan.objects.get(code="pro")
            )
        # A fuzzing run may have changed the owner's role through the API: make them owner again.
        Membership.objects.update_or_create(organization=organization, user=user, defaults={"role": Role.OWNER})
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=timedelta(hours=hours))
        self.stdout.write(f"export FUZZ_ORG_SLUG={FUZZ_SLUG}\nexport FUZZ_TOKEN={token}\n")
