"""Per-bot term statistics for BM25 (issue 14), backfilled from the searchable chunks."""

import django.db.models.deletion
from django.db import migrations, models


BACKFILL = """
INSERT INTO documents_bottextstats (bot_id, chunk_count, lexeme_total)
SELECT c.bot_id, count(*),
       sum((SELECT coalesce(sum(coalesce(cardinality(u.positions), 1)), 0)
            FROM unnest(coalesce(c.search_vector, ''::tsvector)) u))
FROM documents_chunk c WHERE c.searchable GROUP BY c.bot_id;
INSERT INTO documents_lexemestat (bot_id, lexeme, df)
SELECT c.bot_id, u.lexeme, count(*)
FROM documents_chunk c, unnest(c.search_vector) u WHERE c.searchable GROUP BY c.bot_id, u.lexeme;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('bots', '0002_bot_allowed_origins_bot_fallback_message_and_more'),
        ('documents', '0002_document_lease'),
    ]

    operations = [
        migrations.CreateModel(
            name='BotTextStats',
            fields=[
                ('bot', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='bots.bot')),
                ('chunk_count', models.BigIntegerField(default=0)),
                ('lexeme_total', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name_plural': 'bot text stats',
            },
        ),
        migrations.CreateModel(
            name='LexemeStat',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('lexeme', models.TextField()),
                ('df', models.IntegerField()),
                ('bot', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='bots.bot')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('bot', 'lexeme'), name='lexeme_stat_unique_per_bot')],
            },
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
    ]
