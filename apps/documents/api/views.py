"""Documents of a bot and hybrid search: /api/v1/orgs/{org}/bots/{bot}/documents/ and .../search/; the knowledge
base in detail: .../documents/{id}/chunks/ and .../stats/ (docs/knowledge-base.md)."""

from django.db import transaction
from django.utils.decorators import method_decorator
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType, ValidationError
from rest_framework.response import Response

from apps.bots.tenancy import BotScopedApi
from apps.core.fields import WebUrlField
from apps.core.pagination import paginate, paginated_schema
from apps.core.parsers import JSONParser, MultiPartParser
from apps.core.serializers import QuerySerializer
from apps.documents import calibration, selectors
from apps.documents.models import Chunk, Document
from apps.documents.services.upload import (
    IncomingFile,
    document_create_from_text,
    document_delete,
    document_reprocess,
    document_upload,
)
from apps.organizations.models import Role


class DocumentOutputSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(help_text="chunks_done / chunks_total while processing (0..1).")

    class Meta:
        model = Document
        fields = [
            "id", "title", "source", "original_name", "kind", "mime_type", "size", "sha256", "url", "version",
            "status", "error", "progress", "chunks_done", "chunks_total", "chunk_count", "token_count",
            "page_count", "embedding_model", "language", "search_config", "created_at", "processed_at",
        ]  # fmt: skip
        extra_kwargs = {
            "language": {"help_text": "ISO 639-1 code: the bot's language, or detected when it is auto ('' until "
                         "processed, or when it could not be told)."},
            "search_config": {"help_text": "The PostgreSQL text-search configuration the chunks are indexed with."},
        }  # fmt: skip


class UploadResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["created", "duplicate", "new_version"],
        help_text="duplicate: the same content is already in this bot (the existing document is returned); "
        "new_version: it replaces the document of the same name once ready.",
    )
    document = DocumentOutputSerializer()


class UploadResponseSerializer(serializers.Serializer):
    results = UploadResultSerializer(many=True)


# No request-wide transaction: document_upload writes the files first, then the rows in its own
# durable transaction (refused inside another one, whose later rollback would orphan the files), and
# deletes the files if it fails. The list is a single read.
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class DocumentListUploadApi(BotScopedApi):
    parser_classes = [MultiPartParser, JSONParser]

    class FilterSerializer(QuerySerializer):
        status = serializers.ChoiceField(choices=Document.Status.choices, required=False)
        search = serializers.CharField(required=False, allow_blank=True, max_length=200)

    class UploadSerializer(serializers.Serializer):
        files = serializers.ListField(child=serializers.FileField(allow_empty_file=True), min_length=1, max_length=50)

    @extend_schema(
        operation_id="documents_list",
        parameters=[FilterSerializer],
        responses=paginated_schema(DocumentOutputSerializer),
        tags=["documents"],
    )
    def get(self, request, org_slug, bot_id):
        filters = self.FilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = selectors.document_list(organization=self.organization, bot=self.bot, filters=filters.validated_data)
        return paginate(self, request, queryset, DocumentOutputSerializer)

    @extend_schema(
        operation_id="documents_upload",
        request={"multipart/form-data": UploadSerializer},
        responses={201: UploadResponseSerializer, 200: UploadResponseSerializer},
        tags=["documents"],
        description="Upload one or many files (txt, md, rst, html, pdf, docx) in the `files` field. 201 when at least "
        "one document was created, 200 when every file was a duplicate. Limits: the plan's size per file, "
        "documents per bot and total storage (413/403 naming the limit); unsupported types are 415.",
    )
    def post(self, request, org_slug, bot_id):
        if request.content_type is None or not request.content_type.startswith("multipart/form-data"):
            raise UnsupportedMediaType(
                request.content_type,
                detail="Upload files as multipart/form-data in the 'files' field; "
                "use .../documents/text/ for raw text.",
            )
        files = request.FILES.getlist("files")
        if not files:
            # Say what arrived: a part without a file name is not a file to Django's parser (it is dropped), and a
            # file under another field name is easy to send by mistake.
            others = sorted(name for name in request.FILES if name != "files")
            hint = f" Files arrived in {', '.join(repr(name) for name in others[:5])}." if others else ""
            raise ValidationError(
                {
                    "files": [
                        "No file received: send each file as a multipart part named 'files' with a file name "
                        '(Content-Disposition: form-data; name="files"; filename="guide.pdf"); a part without a '
                        "file name is not read as a file." + hint
                    ]
                }
            )
        data = self.UploadSerializer(data={"files": files})
        data.is_valid(raise_exception=True)
        incoming = [IncomingFile(name=upload.name, data=upload.read()) for upload in data.validated_data["files"]]
        outcomes = document_upload(
            organization=self.organization, bot=self.bot, files=incoming, created_by=_person(request)
        )
        body = UploadResponseSerializer({"results": outcomes}).data
        created = any(outcome.outcome != "duplicate" for outcome in outcomes)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _person(request):
    return request.user if getattr(request.user, "pk", None) else None


class DocumentTextCreateApi(BotScopedApi):
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=300)
        text = serializers.CharField(max_length=5_000_000)
        url = WebUrlField(required=False, allow_blank=True, max_length=1000, default="")

    @extend_schema(
        operation_id="documents_create_text",
        request=InputSerializer,
        responses={201: UploadResultSerializer, 200: UploadResultSerializer},
        tags=["documents"],
    )
    def post(self, request, org_slug, bot_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        document, outcome = document_create_from_text(
            organization=self.organization, bot=self.bot, created_by=_person(request), **data.validated_data
        )
        body = UploadResultSerializer({"outcome": outcome, "document": document}).data
        return Response(body, status=status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK)


class DocumentDetailApi(BotScopedApi):
    @extend_schema(operation_id="documents_retrieve", responses=DocumentOutputSerializer, tags=["documents"])
    def get(self, request, org_slug, bot_id, document_id):
        document = selectors.document_get(
            organization=self.organization, bot=self.bot, document_id=document_id, follow_versions=True
        )
        return Response(DocumentOutputSerializer(document).data)

    @extend_schema(operation_id="documents_destroy", responses={204: None}, tags=["documents"])
    def delete(self, request, org_slug, bot_id, document_id):
        document = selectors.document_get(organization=self.organization, bot=self.bot, document_id=document_id)
        document_delete(document=document)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentReprocessApi(BotScopedApi):
    @extend_schema(
        operation_id="documents_reprocess", request=None, responses={202: DocumentOutputSerializer}, tags=["documents"]
    )
    def post(self, request, org_slug, bot_id, document_id):
        document = selectors.document_get(organization=self.organization, bot=self.bot, document_id=document_id)
        document = document_reprocess(document=document)
        return Response(DocumentOutputSerializer(document).data, status=status.HTTP_202_ACCEPTED)


class ChunkOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chunk
        fields = ["id", "position", "text", "heading_path", "page", "char_start", "char_end", "token_count"]
        extra_kwargs = {
            "position": {"help_text": "0-based order of the chunk in the document."},
            "heading_path": {"help_text": "The headings above the chunk, outermost first (embedded with the text)."},
            "page": {"help_text": "The PDF page the chunk starts on; null for other formats."},
            "char_start": {"help_text": "Offset of the chunk's first character in the extracted text."},
            "char_end": {"help_text": "Offset just after the chunk's last character in the extracted text."},
            "token_count": {"help_text": "Tokens of the text as the chunker counts them."},
        }


class DocumentChunkListApi(BotScopedApi):
    @extend_schema(
        operation_id="documents_chunks_list",
        responses=paginated_schema(ChunkOutputSerializer),
        tags=["documents"],
        description="The searchable chunks of a document in reading order (a new version being processed appears "
        "once it is ready). Paginated (`page`, `page_size` up to 200).",
    )
    def get(self, request, org_slug, bot_id, document_id):
        document = selectors.document_get(
            organization=self.organization, bot=self.bot, document_id=document_id, follow_versions=True
        )
        queryset = selectors.chunk_list(organization=self.organization, document=document)
        return paginate(self, request, queryset, ChunkOutputSerializer)


class BotStatsApi(BotScopedApi):
    class OutputSerializer(serializers.Serializer):
        documents = serializers.IntegerField(help_text="All documents of the bot, whatever their status.")
        documents_by_status = serializers.DictField(
            child=serializers.IntegerField(), help_text="Documents per status: pending, processing, ready, failed."
        )
        chunks = serializers.IntegerField(help_text="Searchable chunks (of the ready documents).")
        tokens = serializers.IntegerField(help_text="Tokens of the ready documents' chunks.")
        languages = serializers.DictField(
            child=serializers.IntegerField(),
            help_text='Ready documents per language (ISO 639-1; \'\' = not told), e.g. {"en": 12, "fr": 3}.',
        )
        last_ingestion_at = serializers.DateTimeField(
            allow_null=True, help_text="When the last document became ready; null before the first."
        )

    @extend_schema(operation_id="bots_stats", responses=OutputSerializer, tags=["documents"])
    def get(self, request, org_slug, bot_id):
        stats = selectors.bot_stats(organization=self.organization, bot=self.bot)
        return Response(self.OutputSerializer(stats).data)


class BotCalibrateApi(BotScopedApi):
    class OutputSerializer(serializers.Serializer):
        status = serializers.CharField(help_text="queued: a calibration run will start shortly.")

    @extend_schema(
        operation_id="bots_calibrate",
        request=None,
        responses={202: OutputSerializer},
        tags=["bots"],
        description="Recalibrate the bot's refusal cut-off now (admins), without waiting for the next ingestion "
        "change. The result appears in the bot's `calibration` (docs/refusal.md).",
    )
    def post(self, request, org_slug, bot_id):
        calibration.calibration_request_now(bot=self.bot)
        return Response({"status": "queued"}, status=status.HTTP_202_ACCEPTED)


class SearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    document_url = serializers.CharField(allow_blank=True)
    heading_path = serializers.ListField(child=serializers.CharField())
    page = serializers.IntegerField(allow_null=True)
    score = serializers.FloatField(
        help_text="Fused relevance 0..1: dense_weight*semantic + (1-dense_weight)*lexical; the cut-off applies to it."
    )
    semantic = serializers.FloatField(help_text="Cosine similarity of question and passage (0..1).")
    lexical = serializers.FloatField(
        allow_null=True,
        help_text="BM25 of the passage for the question's terms, with term weights from the bot's own documents, "
        "normalised to 0..1 (docs/search.md); null when the question has no search terms (only stop words), and "
        "then score = semantic.",
    )
    rerank_score = serializers.FloatField(
        allow_null=True, help_text="The reranker's score (its own scale) when RERANKER is on; null otherwise."
    )
    reranked = serializers.BooleanField(
        help_text="True when a reranker ordered these results; false when off or when it failed (fused order)."
    )
    snippet = serializers.CharField(help_text="HTML-escaped excerpt; matched terms are wrapped in <mark>.")
    text = serializers.CharField()


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    min_score = serializers.FloatField()
    results = SearchHitSerializer(many=True)


# Read-only, and with RERANKER=http it calls a remote service: no request-wide transaction around it
# (chunk_search opens its own short one for the query).
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class SearchApi(BotScopedApi):
    read_role = Role.MEMBER

    class FilterSerializer(QuerySerializer):
        q = serializers.CharField(max_length=1000, help_text="The question or search words.")
        k = serializers.IntegerField(min_value=1, max_value=50, required=False, help_text="Results (bot's top_k).")
        min_score = serializers.FloatField(
            min_value=0,
            max_value=1,
            required=False,
            help_text="Cut-off on the fused score (the bot's effective_min_score).",
        )

    @extend_schema(
        operation_id="bots_search",
        parameters=[FilterSerializer],
        responses=SearchResponseSerializer,
        tags=["documents"],
    )
    def get(self, request, org_slug, bot_id):
        params = self.FilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        query = params.validated_data["q"].strip()
        min_score = params.validated_data.get("min_score", self.bot.effective_min_score)
        hits = selectors.chunk_search(
            organization=self.organization,
            bot=self.bot,
            query=query,
            k=params.validated_data.get("k"),
            min_score=min_score,
        )
        return Response(SearchResponseSerializer({"query": query, "min_score": min_score, "results": hits}).data)
