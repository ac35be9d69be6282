"""Issue 18: dedicated API-key scopes (members:sync, recommendations:manage), up to 32 characters.

Member sync used to accept any write-scoped key; it now needs `members:sync`. Keys that could sync
before this migration keep that ability (their `write` scope gets `members:sync` added), so running
integrations do not break; new keys get it only when asked for."""

import django.contrib.postgres.fields
from django.db import migrations, models


def grant_sync_to_write_keys(apps, schema_editor):
    ApiKey = apps.get_model("organizations", "ApiKey")
    keys = ApiKey.objects.filter(scopes__contains=["write"]).exclude(scopes__contains=["members:sync"])
    for key in keys.iterator():
        key.scopes = sorted({*key.scopes, "members:sync"})
        key.save(update_fields=["scopes"])


def revoke_sync(apps, schema_editor):
    ApiKey = apps.get_model("organizations", "ApiKey")
    for key in ApiKey.objects.filter(scopes__overlap=["members:sync", "recommendations:manage"]).iterator():
        key.scopes = [scope for scope in key.scopes if scope in ("read", "write")]
        key.save(update_fields=["scopes"])


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0004_personality_admin_access"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apikey",
            name="scopes",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(
                    choices=[
                        ("read", "Read"),
                        ("write", "Write"),
                        ("members:sync", "Member sync"),
                        ("recommendations:manage", "Recommendations: cache and training"),
                    ],
                    max_length=32,
                ),
                default=list,
                size=None,
            ),
        ),
        migrations.RunPython(grant_sync_to_write_keys, revoke_sync),
    ]
