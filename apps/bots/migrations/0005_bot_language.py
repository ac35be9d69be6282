"""A bot's language (issue 17 item 3). Existing bots get the language of SEARCH_TEXT_CONFIG (english: en),
so their search behaves as before."""

import apps.core.languages
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bots', '0004_dense_weight_half'),
    ]

    operations = [
        migrations.AddField(
            model_name='bot',
            name='language',
            field=models.CharField(choices=apps.core.languages.BOT_LANGUAGE_CHOICES, default=apps.core.languages.bot_language_default, max_length=8),
        ),
    ]
