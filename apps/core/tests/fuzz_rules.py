"""What a schema-valid request may be refused for, shared by the in-CI fuzz test
(apps/core/tests/test_schema_fuzz.py) and `make fuzz` (loaded there as SCHEMATHESIS_HOOKS).

schemathesis's `positive_data_acceptance` says a request generated from the schema must be accepted.
It runs with these statuses allowed (EXPECTED_STATUSES): 2xx; 401 (a credential the request carries
is wrong: login, refresh, verify, logout); 403 (role or plan limit); 404 (an unknown id in the path,
a page past the last); 409 (a conflict); 429 (a throttle). Not 400: a 400 says the input broke a rule,
and every rule the schema can state (lengths, formats, enums, ranges, patterns, "one of two fields",
"not both") is stated in it (docs/api.md, "What the schema promises").

The refusals below are the rest: rules about stored state (a taken slug, an unknown id in the body, a
closed invitation), the clock (an expiry in the past, a moment in the future), credentials (the current
password), combinations OpenAPI 3.0 cannot state (a date range longer than allowed) and Django's
password policy. Each is stated in its operation's description or field help text, and each is
recognised by its error code and message, so any other 400 of a schema-valid request still fails.
"""

from __future__ import annotations

import re

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

EXPECTED_STATUSES = ["2xx", "401", "403", "404", "409", "429"]

ANY = ""  # a rule of every operation

# (operation label prefix, status, error code, message pattern, why it is not in the schema)
STATED_RULES = [
    (
        ANY,
        400,
        "invalid",
        r"Null characters are not allowed|(NUL|null) character|surrogate",
        "NUL and lone surrogates: refused in every string (docs/security.md)",
    ),
    (ANY, 400, "invalid_reference", r"", "an id or external_id in the body that this organization does not have"),
    (ANY, 400, "not_a_member", r"", "a user (id or external_id) who is not a member of this organization"),
    (ANY, 400, "item_inactive", r"", "state: the item is inactive"),
    (ANY, 400, "duplicate_external_id", r"", "state: the external_id is already used in this organization"),
    (ANY, 400, "duplicate_row", r"", "a batch that must name each member once names one twice (issue 19)"),
    (ANY, 400, "invitation_closed", r"", "state: the invitation is already accepted, revoked or expired"),
    (ANY, 400, "last_owner", r"", "state: the last owner cannot be removed or demoted"),
    (ANY, 400, "already_member", r"", "state: the invited e-mail is already a member"),
    (ANY, 400, "not_an_answer", r"", "state: feedback goes on the assistant's answers only"),
    (ANY, 400, "no_question", r"", "state: no user message precedes the corrected answer (issue 14)"),
    (ANY, 400, "no_evaluation_set", r"", "state: the bot has no Q&A pairs to evaluate (issue 14)"),
    (ANY, 400, "rolled_up", r"", "state: the item has children; its progress rolls up from them"),
    (ANY, 400, "cycle", r"", "state: a parent or prerequisite that is the item itself or would make a loop"),
    (
        ANY,
        400,
        "webhook_url_refused",
        r"",
        "DNS: a webhook host that does not resolve or resolves to a private, loopback or reserved address (issue 17)",
    ),
    (ANY, 400, "webhook_disabled", r"", "state: a disabled webhook endpoint is not replayed"),
    (ANY, 400, "unknown_filter", r"", "a campaign's segment filters refuse unknown keys (issue 19, docs/outreach.md)"),
    (ANY, 400, "segment_empty", r"", "state: no member matches the campaign's segment (issue 19)"),
    (ANY, 400, "campaign_empty", r"", "state: the campaign has no message left to send (issue 19)"),
    (ANY, 400, "invalid", r"Cannot be in the future", "clock: a moment later than now"),
    (
        ANY,
        400,
        "invalid",
        r"password: (This password is (too common|too short|entirely numeric)|The password is too similar)",
        "Django's password validators (stated in the field's description)",
    ),
    (
        "POST /api/v1/auth/register/",
        400,
        "invalid",
        r"An account with this e-mail already exists",
        "state: the e-mail is taken",
    ),
    (
        "POST /api/v1/auth/password/change/",
        400,
        "invalid",
        r"The current password is not correct",
        "credentials: the current password",
    ),
    ("POST /api/v1/auth/password/reset/confirm/", 400, "reset_token_invalid", r"", "credentials: the reset link"),
    ("POST /api/v1/orgs/", 400, "invalid", r"slug: The slug .* is taken", "state: slugs are unique"),
    (
        "POST /api/v1/users/me/delete/",
        400,
        "invalid",
        r"password: The password is not correct",
        "credentials: deleting one's account is confirmed by its password (docs/api.md)",
    ),
    (
        "DELETE /api/v1/orgs/{org_slug}/",
        400,
        "invalid",
        r"confirm: Repeat the organization's slug",
        "a deletion is confirmed by repeating the slug: any other string is refused (docs/api.md)",
    ),
    ("POST /api/v1/orgs/{org_slug}/api-keys/", 400, "invalid", r"The expiry must be in the future", "clock"),
    (
        "GET /api/v1/orgs/{org_slug}/analytics/",
        400,
        "invalid",
        r"date_from: Must be on or before date_to|date_to: The range covers \d+ days; the most is \d+"
        r"|date_from: From \d{4}-\d{2}-\d{2} to today \(\d{4}-\d{2}-\d{2}\) is \d+ days; the most is \d+",
        "cross-field: date_from <= date_to, at most ANALYTICS_MAX_RANGE_DAYS days (date_to defaults to today)",
    ),
    (
        "GET /api/v1/orgs/{org_slug}/interactions/",
        400,
        "invalid",
        r"date_to: Must not be before date_from",
        "cross-field: date_from <= date_to",
    ),
    (
        "GET /api/v1/orgs/{org_slug}/interactions/",
        400,
        "invalid",
        r"cursor: (Not a cursor of this list|Give page or cursor, not both)",
        "state: a cursor is what a page of this list gave (opaque), and walks without page numbers",
    ),
    (
        "GET /api/v1/orgs/{org_slug}/bots/{bot_id}/conversations/",
        400,
        "invalid",
        r"date_to: Must not be before date_from",
        "cross-field: date_from <= date_to",
    ),
    (
        "GET /api/v1/orgs/{org_slug}/recommendations/",
        400,
        "invalid",
        r"offset \+ limit can be at most",
        "cross-field: offset + limit <= REC_MAX_RESULTS",
    ),
    (
        "GET /api/v1/orgs/{org_slug}/",
        400,
        "invalid",
        r"user: Give user or user_external_id, not both|item: Give item or item_external_id, not both",
        "cross-field in a query string (issue 18): a person or an item named by id or external id, not both",
    ),
    (
        "GET /api/v1/orgs/{org_slug}/content/similar/",
        400,
        "invalid",
        r"item: Give item or item_external_id \(one of them\)",
        "cross-field in a query string (issue 18): exactly one of item / item_external_id",
    ),
    (
        "POST /api/v1/orgs/{org_slug}/interactions/",
        400,
        "invalid",
        r"event needs a value",
        "cross-field: a rate or purchase event needs a value",
    ),
    (
        "POST /api/v1/orgs/{org_slug}/personality/assessments/",
        400,
        "invalid",
        r"Too few items answered to score any trait",
        "cross-field: at least half of one trait's items",
    ),
    (
        "POST /api/v1/orgs/{org_slug}/bots/{bot_id}/documents/",
        415,
        "unsupported_type",
        r"",
        "the file's name and content decide its type",
    ),
]


def stated_rule(case, response) -> str | None:
    """The reason of the STATED_RULES entry this refusal matches, or None."""
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        return None
    label = case.operation.label
    for prefix, status, rule_code, pattern, reason in STATED_RULES:
        if (
            label.startswith(prefix)
            and response.status_code == status
            and code == rule_code
            and re.search(pattern, message)
        ):
            return reason
    return None


@schemathesis.check
def positive_data_acceptance_or_stated_rule(ctx, response, case):
    """`positive_data_acceptance` (with EXPECTED_STATUSES), except refusals listed in STATED_RULES."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except AssertionError:
        if stated_rule(case, response) is not None:
            return None
        raise
