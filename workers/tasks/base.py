import logging

from celery import Task

logger = logging.getLogger(__name__)


class DocumentTask(Task):
    """Ingestion task: when retries are exhausted or an unexpected error escapes, the document is
    marked failed with a readable sentence (never left `processing`); the exception itself goes to
    the log, not to the document's error, which people read (issue 13)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from apps.documents.services.pipeline import document_fail

        document_id = kwargs.get("document_id", args[1] if len(args) > 1 else None)
        if document_id is not None:
            logger.error("document %s: %s failed: %s: %s", document_id, self.name, type(exc).__name__, exc)
            document_fail(
                document_id=document_id,
                message="Processing failed because of an unexpected error; use 'reprocess' to try again.",
            )
        super().on_failure(exc, task_id, args, kwargs, einfo)
