"""The personality models move from recommendations to personality (issue 15): state only, the
tables `recommendations_personalityprofile`, `_assessmentresponse` and `_personalitydeletion` stay as
they are (recommendations 0003/0004 created them; recommendations 0007 deletes the models from its
state)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.model_moves import content_types_move


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("recommendations", "0006_graph_outbox_dead"),
        ("organizations", "0004_personality_admin_access"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AssessmentResponse",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "instrument",
                            models.CharField(
                                choices=[
                                    ("ipip50", "IPIP Big-Five factor markers (50 items)"),
                                    ("mini_ipip", "Mini-IPIP (20 items)"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("answers", models.JSONField(default=dict)),
                        ("result", models.JSONField(default=dict)),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="organizations.organization",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "recommendations_assessmentresponse",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["organization", "user", "-created_at"], name="assessment_latest")
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("instrument__in", ["ipip50", "mini_ipip"])),
                                name="assessment_instrument_valid",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="PersonalityDeletion",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("deleted_at", models.DateTimeField()),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="organizations.organization",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "recommendations_personalitydeletion",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("organization", "user"), name="personality_deletion_unique_user"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="PersonalityProfile",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        ("openness", models.FloatField(blank=True, null=True)),
                        ("openness_confidence", models.FloatField(default=0)),
                        ("conscientiousness", models.FloatField(blank=True, null=True)),
                        ("conscientiousness_confidence", models.FloatField(default=0)),
                        ("extraversion", models.FloatField(blank=True, null=True)),
                        ("extraversion_confidence", models.FloatField(default=0)),
                        ("agreeableness", models.FloatField(blank=True, null=True)),
                        ("agreeableness_confidence", models.FloatField(default=0)),
                        ("neuroticism", models.FloatField(blank=True, null=True)),
                        ("neuroticism_confidence", models.FloatField(default=0)),
                        ("evidence", models.JSONField(blank=True, default=dict)),
                        ("learning_style", models.JSONField(blank=True, default=dict)),
                        (
                            "source",
                            models.CharField(
                                choices=[
                                    ("questionnaire", "Questionnaire"),
                                    ("behaviour", "Behaviour"),
                                    ("text", "Text"),
                                    ("combined", "Combined"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("input_hash", models.CharField(max_length=64)),
                        ("computed_at", models.DateTimeField()),
                        (
                            "organization",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="organizations.organization",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "recommendations_personalityprofile",
                        "ordering": ["-computed_at", "-id"],
                        "indexes": [
                            models.Index(fields=["organization", "user", "-computed_at"], name="personality_latest")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("organization", "user", "input_hash"), name="personality_unique_input"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("source__in", ["questionnaire", "behaviour", "text", "combined"])),
                                name="personality_source_valid",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("openness__isnull", True),
                                    models.Q(("openness__gte", 0), ("openness__lte", 1)),
                                    _connector="OR",
                                ),
                                name="personality_openness_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("conscientiousness__isnull", True),
                                    models.Q(("conscientiousness__gte", 0), ("conscientiousness__lte", 1)),
                                    _connector="OR",
                                ),
                                name="personality_conscientiousness_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("extraversion__isnull", True),
                                    models.Q(("extraversion__gte", 0), ("extraversion__lte", 1)),
                                    _connector="OR",
                                ),
                                name="personality_extraversion_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("agreeableness__isnull", True),
                                    models.Q(("agreeableness__gte", 0), ("agreeableness__lte", 1)),
                                    _connector="OR",
                                ),
                                name="personality_agreeableness_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("neuroticism__isnull", True),
                                    models.Q(("neuroticism__gte", 0), ("neuroticism__lte", 1)),
                                    _connector="OR",
                                ),
                                name="personality_neuroticism_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(("openness_confidence__gte", 0), ("openness_confidence__lte", 1)),
                                name="personality_openness_conf_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("conscientiousness_confidence__gte", 0), ("conscientiousness_confidence__lte", 1)
                                ),
                                name="personality_conscientiousness_conf_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("extraversion_confidence__gte", 0), ("extraversion_confidence__lte", 1)
                                ),
                                name="personality_extraversion_conf_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("agreeableness_confidence__gte", 0), ("agreeableness_confidence__lte", 1)
                                ),
                                name="personality_agreeableness_conf_0_1",
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    ("neuroticism_confidence__gte", 0), ("neuroticism_confidence__lte", 1)
                                ),
                                name="personality_neuroticism_conf_0_1",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        content_types_move(
            old_app="recommendations",
            new_app="personality",
            models=["assessmentresponse", "personalitydeletion", "personalityprofile"],
        ),
    ]
