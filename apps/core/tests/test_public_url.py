"""The links Beacon writes (the widget snippet, invitation and campaign e-mails) point at the server `make run`
starts: local settings follow BEACON_HOST and BEACON_PORT, and `devstack --host/--port` sets BEACON_PUBLIC_URL for
itself and the processes it starts, unless BEACON_PUBLIC_URL is given."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.management import call_command


def _local_public_url(tmp_path, **env) -> str:
    """BEACON_PUBLIC_URL of config.settings.local in a fresh interpreter (service URLs set: nothing is started)."""
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"BEACON_HOST", "BEACON_PORT", "BEACON_PUBLIC_URL", "DJANGO_SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    child_env.update(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        REDIS_URL="redis://127.0.0.1:1/0",
        NEO4J_URI="",
        BEACON_HOME=str(tmp_path),
        **env,
    )
    result = subprocess.run(
        [sys.executable, "-c", "from config.settings import local; print(local.BEACON_PUBLIC_URL)"],
        cwd=settings.BASE_DIR,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,  # a hang guard only: importing the settings takes about a second and starts no server
    )
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
