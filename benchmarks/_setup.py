"""Shared set-up for benchmarks: Django on the embedded stack, in a database of its own."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup(database: str = "beacon_bench") -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("BEACON_DATABASE_NAME", database)
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def fresh_bot(name: str, **bot_fields):
    """A new organization (enterprise plan: no limits) and bot for one benchmark run."""
    import secrets

    from apps.bots.models import Bot
    from apps.organizations.models import Organization, Plan

    plan = Plan.objects.get(code="enterprise")
    organization = Organization.objects.create(name=name, slug=f"bench-{secrets.token_hex(4)}", plan=plan)
    return organization, Bot.objects.create(organization=organization, name=name, **bot_fields)
