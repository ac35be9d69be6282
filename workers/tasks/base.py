from celery import Task


class DocumentTask(Task):
    """Ingestion task: when retries are exhausted or an unexpected error escapes, the document is
    marked failed with the error (never left `processing`)."""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from apps.documents.services import document_fail

        document_id = kwargs.get("document_id", args[1] if len(args) > 1 else None)
        if document_id is not None:
            document_fail(
                document_id=document_id,
                message=f"Processing failed ({type(exc).__name__}: {exc}); use 'reprocess' to try again.",
            )
        super().on_failure(exc, task_id, args, kwargs, einfo)
