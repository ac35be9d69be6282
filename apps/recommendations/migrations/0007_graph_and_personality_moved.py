"""GraphOutbox went to the graph app, the personality models to the personality app (issue 15):
deleted from this app's migration state only; their tables stay (graph 0001 and personality 0001
hold the models now, with the same `db_table`)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("recommendations", "0006_graph_outbox_dead"),
        ("graph", "0001_initial"),
        ("personality", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="GraphOutbox"),
                migrations.DeleteModel(name="AssessmentResponse"),
                migrations.DeleteModel(name="PersonalityDeletion"),
                migrations.DeleteModel(name="PersonalityProfile"),
            ],
            database_operations=[],
        ),
    ]
