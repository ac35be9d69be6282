"""Data migration (issue 19): the flat `User.interests` of every member becomes structured rows in each of
their organizations: category "general", weight 1, source `synced` for accounts without a usable
password (only member sync writes those) and `stated` for everyone else. Set-based (three INSERT ...
SELECT statements), idempotent (ON CONFLICT DO NOTHING). Names normalised as
`interest_name_normalise` does (trimmed, whitespace collapsed, lower case, 64 characters)."""

from django.db import migrations

NAME = "left(lower(regexp_replace(btrim(t.tag), '\\s+', ' ', 'g')), 64)"

FORWARD = [
    """
    INSERT INTO interests_interestcategory (organization_id, name, created_at)
    SELECT DISTINCT m.organization_id, 'general', now()
    FROM organizations_membership m JOIN users_user u ON u.id = m.user_id
    WHERE cardinality(u.interests) > 0
    ON CONFLICT DO NOTHING
    """,
    f"""
    INSERT INTO interests_interestvalue (organization_id, category_id, name, created_at)
    SELECT DISTINCT m.organization_id, c.id, {NAME}, now()
    FROM organizations_membership m
    JOIN users_user u ON u.id = m.user_id
    CROSS JOIN LATERAL unnest(u.interests) AS t(tag)
    JOIN interests_interestcategory c ON c.organization_id = m.organization_id AND c.name = 'general'
    WHERE btrim(t.tag) <> ''
    ON CONFLICT DO NOTHING
    """,
    f"""
    INSERT INTO interests_memberinterest
        (organization_id, user_id, value_id, source, weight, evidence_count, item_ids, created_at, updated_at)
    SELECT DISTINCT m.organization_id, m.user_id, v.id,
           CASE WHEN u.password LIKE '!%' THEN 'synced' ELSE 'stated' END, 1.0, 1, '[]'::jsonb, now(), now()
    FROM organizations_membership m
    JOIN users_user u ON u.id = m.user_id
    CROSS JOIN LATERAL unnest(u.interests) AS t(tag)
    JOIN interests_interestcategory c ON c.organization_id = m.organization_id AND c.name = 'general'
    JOIN interests_interestvalue v ON v.category_id = c.id AND v.name = {NAME}
    WHERE btrim(t.tag) <> ''
    ON CONFLICT DO NOTHING
    """,
]


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for statement in FORWARD:
            cursor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("interests", "0001_initial"),
        ("organizations", "0004_personality_admin_access"),
        ("users", "0001_initial"),
    ]

    # Backwards: the flat list is still there; the structured rows go with the tables (0001 reversed).
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
