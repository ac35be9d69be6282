from django.db import migrations

PLANS = [
    # code, name, members, bots, docs/bot, MB/file, storage MB, messages/month, api keys, default
    ("free", "Free", 5, 1, 50, 10, 100, 1_000, 2, True),
    ("pro", "Pro", 50, 10, 1_000, 50, 5_000, 50_000, 20, False),
    ("enterprise", "Enterprise", None, None, None, 200, None, None, None, False),
]
FIELDS = [
    "code", "name", "max_members", "max_bots", "max_documents_per_bot", "max_file_size_mb", "max_storage_mb",
    "max_monthly_messages", "max_api_keys", "is_default",
]  # fmt: skip


def seed(apps, schema_editor):
    Plan = apps.get_model("organizations", "Plan")
    for row in PLANS:
        values = dict(zip(FIELDS, row, strict=True))
        Plan.objects.update_or_create(code=values.pop("code"), defaults=values)


def unseed(apps, schema_editor):
    apps.get_model("organizations", "Plan").objects.filter(code__in=[p[0] for p in PLANS]).delete()


class Migration(migrations.Migration):
    dependencies = [("organizations", "0002_initial")]
    operations = [migrations.RunPython(seed, unseed)]
