"""An index on RecommendationLog.item for the foreign-key check of each catalog item deleted (a deleted organization's
purge deletes its whole catalog; docs/api.md#deleting-an-organization). Built CONCURRENTLY (the log is written on
every served list), so the migration is not atomic."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("recommendations", "0011_trending_sequence"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="recommendationlog",
            index=models.Index(fields=["item"], name="reclog_item"),
        ),
    ]
