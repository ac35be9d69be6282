"""README's "Your first API calls" walkthrough, step by step through the API and a real Celery worker:
token -> bot -> upload -> wait until ready -> conversation -> ask, reading the same JSON fields the curl
commands read. The document, question and bot name are the README's own (checked against it), so the
walkthrough and this test cannot drift apart. (The commands themselves were also run with curl against
`make run`; the README shows that answer.)
"""

import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.organizations.models import Role
from apps.organizations.tests.factories import MembershipFactory, OrganizationFactory
from apps.users.tests.factories import UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

README = Path(__file__).resolve().parents[3] / "README.md"
DOCUMENT = (
    "# Opening hours\n\n"
    "The library is open from 9 am to 6 pm, Monday to Friday. On Saturdays it opens from 10 am to 2 pm.\n"
)
QUESTION = "When does the library open on Saturdays?"
BOT_NAME = "Library desk"
PASSWORD = "a-walkthrough-password-9"


def test_the_readme_uses_these_values():
    """The walkthrough in README.md shows this document, question and bot (the printf form of the file)."""
    text = README.read_text()
    assert DOCUMENT.replace("\n", "\\n") in text
    assert QUESTION in text and BOT_NAME in text
    for step in (
        "/api/v1/auth/token/",
        "/api/v1/orgs/demo/bots/",
        '["results"][0]["document"]["id"]',
        '"status":"ready"',
    ):
        assert step in text


def wait_ready(client: APIClient, url: str, timeout: float = 90) -> dict:
    """The README's `until ... grep -q '"status":"ready"'` loop (bounded: a failed document ends the wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.2)
    pytest.fail(f"{url} still {body['status']} after {timeout}s")


def test_token_bot_upload_ask(celery_worker, transactional_db, settings):
    settings.OPENAI_API_KEY = None
    settings.OPENAI_BASE_URL = None
    organization = OrganizationFactory(slug="demo")
    owner = UserFactory(email="owner@demo.beacon.local", password=PASSWORD)
    MembershipFactory(organization=organization, user=owner, role=Role.OWNER)
    client = APIClient()

    token = client.post("/api/v1/auth/token/", {"email": owner.email, "password": PASSWORD}, format="json")
    assert token.status_code == 200, token.content
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token.json()['access']}")

    bot = client.post("/api/v1/orgs/demo/bots/", {"name": BOT_NAME}, format="json")
    assert bot.status_code == 201, bot.content
    bot_id = bot.json()["id"]

    upload = client.post(
        f"/api/v1/orgs/demo/bots/{bot_id}/documents/",
        {"files": [SimpleUploadedFile("hours.md", DOCUMENT.encode())]},
        format="multipart",
    )
    assert upload.status_code == 201, upload.content
    document_id = upload.json()["results"][0]["document"]["id"]
    document = wait_ready(client, f"/api/v1/orgs/demo/bots/{bot_id}/documents/{document_id}/")
    assert document["status"] == "ready", document["error"]

    conversation = client.post(f"/api/v1/orgs/demo/bots/{bot_id}/conversations/")  # no body, as with curl -X POST
    assert conversation.status_code == 201, conversation.content
    url = f"/api/v1/orgs/demo/bots/{bot_id}/conversations/{conversation.json()['id']}/messages/"
    response = client.post(url, {"content": QUESTION}, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()["answer"]
    assert (answer["status"], answer["model"]) == ("ok", "offline-extractive")
    assert "On Saturdays it opens from 10 am to 2 pm [1]." in answer["content"]
    assert [(c["ref"], c["document_id"], c["title"]) for c in answer["citations"]] == [
        (1, document_id, "Opening hours")
    ]
