"""Issue 18 (click-through analytics): a covering index on RecommendationLog's date range.

Built CONCURRENTLY (the log is the busiest table of the engine: writes go on while it builds), so
the migration is not atomic. Numbered 0008 by the recapi branch; renumber on merge if another 0008
lands first (it depends only on 0007)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("recommendations", "0007_graph_and_personality_moved"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="recommendationlog",
            index=models.Index(
                fields=["organization", "created_at"],
                include=("source", "position", "clicked_at", "dismissed_at"),
                name="reclog_org_created_ctr",
            ),
        ),
    ]
