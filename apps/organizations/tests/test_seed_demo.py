"""`manage.py seed_demo` (what `make run` calls): the demo organization and its owner, once."""

import io
import json

from django.contrib.auth import get_user_model
from django.core.management import call_command

from apps.organizations.models import Membership, Organization


def test_seed_demo_is_idempotent_and_prints_working_credentials(db, tmp_path, monkeypatch):
    """Two runs: one org 'demo' on Pro, one owner (superuser) whose printed password logs in."""
    monkeypatch.setenv("BEACON_HOME", str(tmp_path))
    first, second = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=first)
    call_command("seed_demo", stdout=second)
    assert first.getvalue() == second.getvalue()
    credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
    assert credentials["password"] in first.getvalue()
    organization = Organization.objects.get(slug="demo")
    assert organization.plan.code == "pro"
    owner = get_user_model().objects.get(email=credentials["email"])
    assert owner.is_superuser and owner.check_password(credentials["password"])
    assert Membership.objects.get(organization=organization).user == owner
