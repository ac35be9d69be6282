"""The development server's secret key (issue 13, finding 5: `make run` signed with a published key).

- config.settings.local takes DJANGO_SECRET_KEY from the environment, or else a random key made
  once per checkout and kept in `.beacon/secret-key` (mode 0600), the same on every start;
- a published placeholder key is refused on any bind address but loopback: by local.py
  (BEACON_HOST) and by `manage.py devstack --host`, before anything starts.
"""

import os
import stat
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from config.settings._embedded import (
    PUBLISHED_SECRET_KEYS,
    is_loopback,
    refuse_published_key,
    use_local_secret_key,
)

PLACEHOLDER = "local-only-insecure-secret-key-do-not-use-in-production"


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A fresh `.beacon/` home and no DJANGO_SECRET_KEY in the environment."""
    monkeypatch.setenv("BEACON_HOME", str(tmp_path))
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    return tmp_path


def test_a_checkout_gets_its_own_random_key_kept_private(checkout):
    """No DJANGO_SECRET_KEY: a random key is written to .beacon/secret-key (0600) and used."""
    use_local_secret_key()
    stored = (checkout / "secret-key").read_text().strip()
    assert os.environ["DJANGO_SECRET_KEY"] == stored
    assert len(stored) >= 50
    assert stored not in PUBLISHED_SECRET_KEYS
    assert stat.S_IMODE((checkout / "secret-key").stat().st_mode) == 0o600
    assert [p.name for p in checkout.iterdir()] == ["secret-key"]  # no temporary file left behind


def test_the_key_survives_restarts_and_differs_between_checkouts(checkout, tmp_path_factory, monkeypatch):
    """A second start reads the same key (sessions and tokens stay valid); another checkout has another."""
    use_local_secret_key()
    first = os.environ["DJANGO_SECRET_KEY"]
    monkeypatch.delenv("DJANGO_SECRET_KEY")
    use_local_secret_key()
    assert os.environ["DJANGO_SECRET_KEY"] == first
    monkeypatch.setenv("BEACON_HOME", str(tmp_path_factory.mktemp("other-checkout")))
    monkeypatch.delenv("DJANGO_SECRET_KEY")
    use_local_secret_key()
    assert os.environ["DJANGO_SECRET_KEY"] != first


def test_the_environment_wins(checkout, monkeypatch):
    """DJANGO_SECRET_KEY set: used as is, no file written."""
    monkeypatch.setenv("DJANGO_SECRET_KEY", "an-operator-chosen-key")
    use_local_secret_key()
    assert os.environ["DJANGO_SECRET_KEY"] == "an-operator-chosen-key"
    assert not (checkout / "secret-key").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_addresses(host):
    """Loopback bind addresses."""
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "demo.example.com", ""])
def test_other_addresses_are_not_loopback(host):
    """Wildcards, LAN addresses and host names reach beyond this machine."""
    assert not is_loopback(host)


@pytest.mark.parametrize("key", sorted(PUBLISHED_SECRET_KEYS))
def test_a_published_key_is_refused_off_loopback(key):
    """Each published key on 0.0.0.0: a clear refusal naming the way out."""
    with pytest.raises(ImproperlyConfigured, match="published placeholder DJANGO_SECRET_KEY"):
        refuse_published_key(secret_key=key, host="0.0.0.0")
    refuse_published_key(secret_key=key, host="127.0.0.1")  # loopback: allowed


def test_a_private_key_may_serve_anywhere():
    """A key of one's own is not refused on a LAN address."""
    refuse_published_key(secret_key="x" * 50, host="0.0.0.0")


def _local_settings(env: dict, setting: str = "SECRET_KEY") -> subprocess.CompletedProcess:
    """Import config.settings.local in a fresh interpreter (service URLs set, so nothing is started) and print
    `setting`."""
    child_env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SECRET_KEY", "BEACON_HOST", "BEACON_PORT", "BEACON_PUBLIC_URL", "DJANGO_SETTINGS_MODULE"}
    }
    child_env.update(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1/0", NEO4J_URI="", **env
    )
    return subprocess.run(
        [sys.executable, "-c", f"from config.settings import local; print(local.{setting})"],
        cwd=settings.BASE_DIR,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,  # a hang guard only: importing the settings takes about a second and starts no server
    )


def test_local_settings_use_the_checkout_key(tmp_path):
    """`make run`'s settings sign with .beacon/secret-key, not with a constant."""
    result = _local_settings({"BEACON_HOME": str(tmp_path), "BEACON_HOST": "0.0.0.0"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (tmp_path / "secret-key").read_text().strip()


def test_local_settings_refuse_the_placeholder_off_loopback(tmp_path):
    """BEACON_HOST=0.0.0.0 with the old placeholder key in the environment: the import fails, saying why."""
    result = _local_settings({"BEACON_HOME": str(tmp_path), "BEACON_HOST": "0.0.0.0", "DJANGO_SECRET_KEY": PLACEHOLDER})
    assert result.returncode != 0
    assert "Refusing to serve on '0.0.0.0' with the published placeholder DJANGO_SECRET_KEY" in result.stderr
    on_loopback = _local_settings({"BEACON_HOME": str(tmp_path), "DJANGO_SECRET_KEY": PLACEHOLDER})
    assert on_loopback.returncode == 0, on_loopback.stderr


def test_devstack_refuses_the_placeholder_on_a_lan_host(settings, monkeypatch):
    """`devstack --host 0.0.0.0` with a published key stops before migrating or starting anything."""
    settings.SECRET_KEY = PLACEHOLDER
    started = []
    monkeypatch.setattr("apps.core.management.commands.devstack.call_command", lambda *a, **k: started.append(a))
    with pytest.raises(CommandError, match=r"Refusing to serve on '0\.0\.0\.0'"):
        call_command("devstack", host="0.0.0.0")
    assert started == []
