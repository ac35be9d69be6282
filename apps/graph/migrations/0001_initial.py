"""GraphOutbox moves from recommendations to graph (issue 15): state only, the table
`recommendations_graph_outbox` stays as it is (recommendations 0001-0006 created it; recommendations
0007 deletes the model from its state)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from apps.core.model_moves import content_types_move


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("recommendations", "0006_graph_outbox_dead"),
        ("organizations", "0004_personality_admin_access"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="GraphOutbox",
                    fields=[
                        ("id", models.BigAutoField(primary_key=True, serialize=False)),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("user", "User (membership and profile)"),
                                    ("content", "Content item (tags, categories, parent, prerequisites)"),
                                    ("progress", "Progress (completion of an item by a user)"),
                                    ("interaction", "Interaction aggregate (user, item, kind)"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("object_key", models.CharField(max_length=100)),
                        ("payload", models.JSONField(default=dict)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("claim_token", models.UUIDField(blank=True, null=True)),
                        ("last_error", models.TextField(blank=True)),
                        ("dead_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "organization",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="organizations.organization",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "graph outbox row",
                        "db_table": "recommendations_graph_outbox",
                        "ordering": ["id"],
                        "indexes": [
                            models.Index(fields=["next_attempt_at", "id"], name="graph_outbox_due"),
                            models.Index(fields=["organization", "created_at"], name="graph_outbox_org_created"),
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("attempts", 0), ("claim_token__isnull", True)),
                                fields=("organization", "kind", "object_key"),
                                name="graph_outbox_one_fresh_per_object",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        content_types_move(old_app="recommendations", new_app="graph", models=["graphoutbox"]),
    ]
