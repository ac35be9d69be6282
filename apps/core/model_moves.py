"""Moving models between apps without touching the database (issue 15: graph and personality left
recommendations). The tables keep their names (`Meta.db_table`); the new app's first migration
creates the models in the migration state only and the old app's next one deletes them from it
(`SeparateDatabaseAndState`, Django docs "Moving models between apps"). What the state does not
carry is the content type: `content_types_move` renames its app label, so admin log entries and
permissions, which point at the content type's id, follow the model."""

from __future__ import annotations

from django.db import migrations


def content_types_move(*, old_app: str, new_app: str, models: list[str]) -> migrations.RunPython:
    """A RunPython operation that relabels the content types of `models` (lower-case model names)
    from `old_app` to `new_app`, and back when reversed. On a fresh database there is nothing to
    relabel yet (content types are created after migrate) and it does nothing; a content type that
    already exists under the new label is left alone."""

    def relabel(source: str, target: str):
        def run(apps, schema_editor):
            content_type = apps.get_model("contenttypes", "ContentType")
            manager = content_type.objects.db_manager(schema_editor.connection.alias)
            taken = set(manager.filter(app_label=target, model__in=models).values_list("model", flat=True))
            manager.filter(app_label=source, model__in=set(models) - taken).update(app_label=target)
            content_type.objects.clear_cache()

        return run

    return migrations.RunPython(relabel(old_app, new_app), relabel(new_app, old_app))
