"""An index on Interaction.item for the foreign-key check of each catalog item deleted (a deleted organization's purge
deletes its whole catalog; docs/api.md#deleting-an-organization). Built CONCURRENTLY (events keep coming while it
builds), so the migration is not atomic."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("progress", "0003_content_categories_lower_gin"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="interaction",
            index=models.Index(fields=["item"], name="interaction_item"),
        ),
    ]
