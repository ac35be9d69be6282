from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector (embeddings) is installed once, before any app needs a vector column."""

    initial = True
    dependencies: list = []
    operations = [VectorExtension()]
