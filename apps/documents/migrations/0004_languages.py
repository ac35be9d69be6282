"""Languages (issue 17 item 3): a document's language and text-search configuration, each chunk's
configuration, and the BM25 statistics per (bot, configuration). Existing documents and chunks were
indexed with the global SEARCH_TEXT_CONFIG: they keep it (no reindexing); the per-configuration totals
are recounted from the chunks."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from apps.core.languages import config_language

BACKFILL_TOTALS = """
INSERT INTO documents_bottextstats (bot_id, config, chunk_count, lexeme_total)
SELECT c.bot_id, c.search_config, count(*),
       sum((SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0)
            FROM unnest(coalesce(c.search_vector, ''::tsvector)) u))
FROM documents_chunk c WHERE c.searchable GROUP BY c.bot_id, c.search_config;
"""


def documents_language(apps, schema_editor):
    Document = apps.get_model("documents", "Document")
    Document.objects.update(language=config_language(settings.SEARCH_TEXT_CONFIG), search_config=settings.SEARCH_TEXT_CONFIG)


class Migration(migrations.Migration):

    dependencies = [
        ('bots', '0005_bot_language'),
        ('documents', '0003_lexeme_stats'),
    ]

    operations = [
        migrations.AddField(
            model_name='document',
            name='language',
            field=models.CharField(blank=True, max_length=8),
        ),
        migrations.AddField(
            model_name='document',
            name='search_config',
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(documents_language, migrations.RunPython.noop),
        migrations.AddField(
            model_name='chunk',
            name='search_config',
            field=models.CharField(default=settings.SEARCH_TEXT_CONFIG, max_length=32),
            preserve_default=False,
        ),
        migrations.RemoveConstraint(
            model_name='lexemestat',
            name='lexeme_stat_unique_per_bot',
        ),
        migrations.AddField(
            model_name='lexemestat',
            name='config',
            field=models.CharField(default=settings.SEARCH_TEXT_CONFIG, max_length=32),
            preserve_default=False,
        ),
        migrations.AddConstraint(
            model_name='lexemestat',
            constraint=models.UniqueConstraint(fields=('bot', 'config', 'lexeme'), name='lexeme_stat_unique_per_bot'),
        ),
        # The totals were keyed by bot alone: a new table keyed by (bot, configuration), recounted.
        migrations.DeleteModel(
            name='BotTextStats',
        ),
        migrations.CreateModel(
            name='BotTextStats',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('config', models.CharField(max_length=32)),
                ('chunk_count', models.BigIntegerField(default=0)),
                ('lexeme_total', models.BigIntegerField(default=0)),
                ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='bots.bot')),
            ],
            options={
                'verbose_name_plural': 'bot text stats',
                'constraints': [models.UniqueConstraint(fields=('bot', 'config'), name='bot_text_stats_unique_config')],
            },
        ),
        migrations.RunSQL(BACKFILL_TOTALS, migrations.RunSQL.noop),
    ]
