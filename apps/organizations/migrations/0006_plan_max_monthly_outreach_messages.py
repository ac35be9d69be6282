from django.db import migrations, models

#: issue 19: outreach e-mails generated per calendar month (null: unlimited)
LIMITS = {"free": 500, "pro": 50_000, "enterprise": None}


def seed(apps, schema_editor):
    Plan = apps.get_model("organizations", "Plan")
    for code, limit in LIMITS.items():
        Plan.objects.filter(code=code).update(max_monthly_outreach_messages=limit)


class Migration(migrations.Migration):
    dependencies = [("organizations", "0005_api_key_dedicated_scopes")]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="max_monthly_outreach_messages",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
