"""`manage.py embeddings_export [--backend onnx|onnx-int8]`: export the local embedding model to ONNX now.

The ONNX backends export on first use anyway; this does it ahead (an image build, a deploy step), into
EMBEDDING_ONNX_DIR (default <BEACON_HOME>/onnx), from the offline weights. An existing export is reused.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.embeddings import OnnxEmbedder, onnx_cache_dir


class Command(BaseCommand):
    help = "Export the local embedding model to ONNX (float, and int8 with --backend onnx-int8) into its cache."

    def add_arguments(self, parser):
        parser.add_argument(
            "--backend",
            choices=["onnx", "onnx-int8"],
            help="Default: EMBEDDING_BACKEND when it is an ONNX one, else onnx-int8 (which writes both files).",
        )

    def handle(self, *args, backend=None, **options):
        if settings.EMBEDDING_PROVIDER != "local":
            raise CommandError("EMBEDDING_PROVIDER is not 'local': there is no local model to export.")
        backend = backend or (settings.EMBEDDING_BACKEND if settings.EMBEDDING_BACKEND != "torch" else "onnx-int8")
        embedder = OnnxEmbedder(
            settings.EMBEDDING_MODEL,
            quantized=backend == "onnx-int8",
            cache_dir=onnx_cache_dir(),
            batch_size=settings.EMBEDDING_BATCH_SIZE,
        )
        embedder.encode(["export check"])
        self.stdout.write(f"{backend}: {embedder.onnx_path}")
