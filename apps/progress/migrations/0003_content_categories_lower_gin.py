"""A GIN index on the lower-cased categories of catalog items, for the recommender's `interests` and `chat`
sources (apps/recommendations/engine/interest_sources.py): they match a member's interests (lower case) to
items' tags or categories, case-insensitively. `lower(categories::text)::text[]` cannot be indexed (array
output and input are only STABLE), so every ranking read the whole catalog: 30 ms of sequential scan per
member at 20,000 items. `content_categories_lower(categories)` is the same expression declared IMMUTABLE,
which it is for a varchar[] (no setting changes how text is written or read; `lower` is immutable).
"""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION content_categories_lower(varchar[]) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$ SELECT lower($1::text)::text[] $$
"""


class Migration(migrations.Migration):
    dependencies = [("progress", "0002_progress_list_order_index")]

    operations = [
        migrations.RunSQL(sql=FUNCTION, reverse_sql="DROP FUNCTION IF EXISTS content_categories_lower(varchar[])"),
        migrations.RunSQL(
            sql=(
                "CREATE INDEX IF NOT EXISTS content_categories_lower_gin ON progress_contentitem "
                "USING gin (content_categories_lower(categories))"
            ),
            reverse_sql="DROP INDEX IF EXISTS content_categories_lower_gin",
        ),
    ]
