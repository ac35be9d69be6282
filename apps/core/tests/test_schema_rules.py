"""The schema states the rules the API enforces (docs/api.md, "What the schema promises"): each rule
found refusing schema-valid input (issue 13, finding 10) is checked here on both sides, the schema
and the API."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from apps.core.fields import URL_PATTERN, TimeZoneField, WebUrlField, time_zones
from apps.core.schema import NOT_BLANK_PATTERN
from conftest import client_for


@pytest.fixture
def schema(db):
    return SchemaGenerator().get_schema(request=None, public=True)


def _parameter(schema, path, name):
    return next(p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name)


def test_time_zones_are_one_enum_used_by_analytics_and_profiles(schema):
    enum = schema["components"]["schemas"]["TimeZone"]["enum"]
    assert "Europe/Paris" in enum and "UTC" in enum and set(enum) == time_zones()
    tz = _parameter(schema, "/api/v1/orgs/{org_slug}/analytics/funnel/", "tz")
    assert tz["schema"]["allOf"] == [{"$ref": "#/components/schemas/TimeZone"}]
    timezone = schema["components"]["schemas"]["RegisterInputRequest"]["properties"]["timezone"]
    assert timezone["allOf"] == [{"$ref": "#/components/schemas/TimeZone"}]


def test_time_zone_field_refuses_what_the_enum_leaves_out(db):
    field = TimeZoneField()
    assert field.run_validation("Europe/Paris") == "Europe/Paris"
    with pytest.raises(serializers.ValidationError, match="is not an IANA time zone"):
        field.run_validation("Mars/Olympus")


def test_comma_lists_of_choices_have_a_pattern(schema):
    kind = _parameter(schema, "/api/v1/orgs/{org_slug}/content/", "kind")["schema"]["pattern"]
    assert re.search(kind, "lesson,video") and not re.search(kind, "lesson,0")
    kind = _parameter(schema, "/api/v1/orgs/{org_slug}/recommendations/", "kind")["schema"]["pattern"]
    assert re.search(kind, "course") and not re.search(kind, "0")


def test_search_parameters_come_from_the_filter_serializer(schema):
    q = _parameter(schema, "/api/v1/orgs/{org_slug}/bots/{bot_id}/search/", "q")
    assert q["required"] is True
    assert q["schema"]["minLength"] == 1 and q["schema"]["pattern"] == NOT_BLANK_PATTERN


def test_pairs_of_fields_are_stated(schema):
    target = schema["components"]["schemas"]["ProgressTargetRequest"]
    assert {"oneOf": [{"required": ["item"]}, {"required": ["item_external_id"]}]} in target["allOf"]
    assert {"not": {"required": ["user", "user_external_id"], "properties": {"user": {"type": "integer"},
            "user_external_id": {"type": "string"}}}} in target["allOf"]  # fmt: skip
    body = schema["paths"]["/api/v1/orgs/{org_slug}/progress/start/"]["post"]["requestBody"]
    assert body["required"] is True


def test_blank_strings_are_stated_as_refused(schema):
    uid = schema["components"]["schemas"]["PasswordResetConfirmInputRequest"]["properties"]["uid"]
    assert uid["pattern"] == NOT_BLANK_PATTERN
    assert not re.search(NOT_BLANK_PATTERN, "\t\x1f\x85 ") and re.search(NOT_BLANK_PATTERN, " a ")
    password = schema["components"]["schemas"]["RegisterInputRequest"]["properties"]["password"]
    assert password["minLength"] == 8


def test_personality_answers_list_each_instrument_items(schema):
    body = schema["paths"]["/api/v1/orgs/{org_slug}/personality/assessments/"]["post"]["requestBody"]
    branches = {
        b["properties"]["instrument"]["enum"][0]: b for b in body["content"]["application/json"]["schema"]["oneOf"]
    }
    assert sorted(branches) == ["ipip50", "mini_ipip"]
    answers = branches["mini_ipip"]["properties"]["answers"]
    assert sorted(answers["properties"], key=int) == [str(n) for n in range(1, 21)]
    assert answers["additionalProperties"] is False


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://example.com/refunds?a=1&b=%20", True),
        ("http://localhost:8000/x", True),
        ("https://app.example.com/#/course/12", True),  # single-page apps route by fragment
        ("https://example.com?ref=mail#top", True),
        ("http://192.168.1.20:8080/handbook", True),
        ("https://docs.eu.west.example.co.uk/guide", True),
        ("http://999.1.1.1/", False),
        ("https://" + "a" * 63 + ".example.com/", False),  # a label longer than the schema allows
        ("https://example.com/%B:", False),  # not a %XX escape: not a `uri`
        ("ftp://example.com/", False),
        ("0", False),
    ],
)
def test_web_urls_are_enforced_as_stated(url, accepted):
    assert bool(re.search(URL_PATTERN, url)) is accepted
    field = WebUrlField()
    if accepted:
        assert field.run_validation(url) == url
    else:
        with pytest.raises(serializers.ValidationError):
            field.run_validation(url)


def test_schema_valid_content_url_is_accepted(organization, admin_user):
    """A URL the old schema allowed (`format: uri`) but Django refused is now outside the schema; one
    the pattern allows is accepted."""
    client = client_for(admin_user)
    url = f"/api/v1/orgs/{organization.slug}/content/"
    response = client.post(url, {"title": "A", "url": "https://learn.example.com/py-101"}, format="json")
    assert response.status_code == 201, response.json()
    response = client.post(url, {"title": "B", "url": "https://" + "a" * 63 + ".example.com/"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["url"]
