"""The links Beacon writes (the widget snippet, invitation and campaign e-mails) point at the server `make run`
starts: local settings follow BEACON_HOST and BEACON_PORT, and `devstack --host/--port` sets BEACON_PUBLIC_URL for
itself and the processes it starts, unless BEACON_PUBLIC_URL is given."""

import os

import pytest
from django.core.management import call_command

from apps.core.tests.test_secret_key import _local_settings


def _local_public_url(tmp_path, **env) -> str:
    """BEACON_PUBLIC_URL of config.settings.local in a fresh interpreter (service URLs set: nothing is started)."""
    result = _local_settings({"BEACON_HOME": str(tmp_path), **env}, "BEACON_PUBLIC_URL")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"BEACON_PORT": "8300"}, "http://127.0.0.1:8300"),
        ({"BEACON_HOST": "0.0.0.0", "BEACON_PORT": "8300"}, "http://127.0.0.1:8300"),
        ({"BEACON_HOST": "beacon.local"}, "http://beacon.local:8000"),
        ({"BEACON_HOST": "::1"}, "http://[::1]:8000"),
        ({"BEACON_PORT": "8300", "BEACON_PUBLIC_URL": "https://beacon.example.com/"}, "https://beacon.example.com"),
    ],
)
def test_local_settings_link_to_the_server_make_run_starts(tmp_path, env, url):
    assert _local_public_url(tmp_path, **env) == url


class _Started(Exception):
    """Stands for what devstack does after choosing the public URL (migrate, seed, start the processes)."""


@pytest.mark.parametrize(
    ("given", "expected"), [("", "http://127.0.0.1:8300"), ("https://b.example", "https://b.example")]
)
def test_devstack_links_to_its_own_port_unless_told_otherwise(settings, monkeypatch, given, expected):
    monkeypatch.setenv("BEACON_PUBLIC_URL", given)  # restored after the test, as is `settings`
    settings.BEACON_PUBLIC_URL = given or "http://127.0.0.1:8000"
    seen = {}

    def migrate(*args, **kwargs):
        seen.update(environ=os.environ["BEACON_PUBLIC_URL"], settings=settings.BEACON_PUBLIC_URL)
        raise _Started

    monkeypatch.setattr("apps.core.management.commands.devstack.call_command", migrate)
    with pytest.raises(_Started):
        call_command("devstack", host="127.0.0.1", port=8300)
    assert seen == {"environ": expected, "settings": expected}
