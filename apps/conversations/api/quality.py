"""The quality loop's API (issue 14, docs/quality.md), under /api/v1/orgs/{org}/bots/{bot}/:

- `qa/`, `qa/{id}/`: the bot's Q&A pairs (members read; admins and write-scope API keys write);
- `conversations/{id}/messages/{message_id}/correction/`: a corrected answer for an assistant message
  (admins), stored as a Q&A pair from the question before it;
- `content-gaps/?days=30`: unanswered and thumbs-down questions grouped into topics (admins);
- `evaluation/`, `evaluation/{id}/`: evaluation runs on the Q&A pairs, latest first with the change
  since the previous run; POST starts one on a worker (admins).
"""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from apps.bots.tenancy import BotScopedApi
from apps.conversations import evaluation, gaps, qa, selectors
from apps.conversations.api.views import ChatApi
from apps.conversations.models import EvaluationRun, QAPair
from apps.core.pagination import paginate, paginated_schema
from apps.core.serializers import QuerySerializer
from apps.organizations.models import Role

# --------------------------------------------------------------------------- Q&A pairs


class QAPairOutputSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    source_conversation_id = serializers.IntegerField(
        source="source_message.conversation_id", allow_null=True, default=None
    )

    class Meta:
        model = QAPair
        fields = [
            "id", "question", "answer", "source_message_id", "source_conversation_id", "created_by", "created_at",
            "updated_at",
        ]  # fmt: skip


class QAPairInputSerializer(serializers.Serializer):
    question = serializers.CharField(max_length=qa.QUESTION_MAX)
    answer = serializers.CharField(max_length=qa.ANSWER_MAX)


class QAPairFilterSerializer(QuerySerializer):
    search = serializers.CharField(required=False, max_length=200, help_text="text in the question or answer")


def _user(request):
    return request.user if getattr(request.user, "pk", None) else None


class QAPairListCreateApi(BotScopedApi):
    """Members read the bot's Q&A pairs; admins (and write-scope API keys) add them."""

    @extend_schema(
        operation_id="bots_qa_list",
        parameters=[QAPairFilterSerializer],
        responses=paginated_schema(QAPairOutputSerializer),
        tags=["quality"],
    )
    def get(self, request, org_slug, bot_id):
        filters = QAPairFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = qa.qa_pair_list(organization=self.organization, bot=self.bot, filters=filters.validated_data)
        return paginate(self, request, queryset.select_related("source_message"), QAPairOutputSerializer)

    @extend_schema(
        operation_id="bots_qa_create",
        request=QAPairInputSerializer,
        responses={201: QAPairOutputSerializer},
        tags=["quality"],
        description="A question and the answer the bot gives when a new question is close enough to it "
        "(QA_MATCH_MIN_SIMILARITY), cited as the bot's own Q&A.",
    )
    def post(self, request, org_slug, bot_id):
        data = QAPairInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair = qa.qa_pair_create(organization=self.organization, bot=self.bot, created_by=_user(request),
                                 **data.validated_data)  # fmt: skip
        return Response(QAPairOutputSerializer(pair).data, status=status.HTTP_201_CREATED)


class QAPairDetailApi(BotScopedApi):
    def pair(self, pair_id):
        return qa.qa_pair_get(organization=self.organization, bot=self.bot, pair_id=pair_id)

    @extend_schema(operation_id="bots_qa_retrieve", responses=QAPairOutputSerializer, tags=["quality"])
    def get(self, request, org_slug, bot_id, pair_id):
        return Response(QAPairOutputSerializer(self.pair(pair_id)).data)

    @extend_schema(
        operation_id="bots_qa_update", request=QAPairInputSerializer, responses=QAPairOutputSerializer, tags=["quality"]
    )
    def patch(self, request, org_slug, bot_id, pair_id):
        pair = self.pair(pair_id)
        data = QAPairInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        pair, _changed = qa.qa_pair_update(pair=pair, data=data.validated_data)
        return Response(QAPairOutputSerializer(pair).data)

    @extend_schema(operation_id="bots_qa_destroy", responses={204: None}, tags=["quality"])
    def delete(self, request, org_slug, bot_id, pair_id):
        qa.qa_pair_delete(pair=self.pair(pair_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageCorrectionApi(ChatApi):
    """Admins attach the answer the bot should have given."""

    write_role = Role.ADMIN

    class InputSerializer(serializers.Serializer):
        answer = serializers.CharField(max_length=qa.ANSWER_MAX)
        question = serializers.CharField(
            required=False, allow_blank=True, default="", max_length=qa.QUESTION_MAX,
            help_text="The question as it should be matched; default: the user's message before this answer.",
        )  # fmt: skip

    @extend_schema(
        operation_id="conversations_messages_correction",
        request=InputSerializer,
        responses={201: QAPairOutputSerializer, 200: QAPairOutputSerializer},
        tags=["quality"],
        description="Store a corrected answer for an assistant message as a Q&A pair (201); correcting the same "
        "message again updates its pair (200).",
    )
    def post(self, request, org_slug, bot_id, conversation_id, message_id):
        conversation = self.conversation(conversation_id)
        message = selectors.message_get(conversation=conversation, message_id=message_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        pair, created = qa.message_correct(message=message, created_by=_user(request), **data.validated_data)
        return Response(
            QAPairOutputSerializer(pair).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


# --------------------------------------------------------------------------- content gaps


class GapExampleSerializer(serializers.Serializer):
    question = serializers.CharField()
    message_id = serializers.IntegerField()
    answer_id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    reason = serializers.ChoiceField(choices=["unanswered", "thumbs_down"])


class GapTopicSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="the topic's most central question")
    count = serializers.IntegerField(help_text="questions in the window")
    unanswered = serializers.IntegerField()
    thumbs_down = serializers.IntegerField()
    previous_count = serializers.IntegerField(help_text="questions of this topic in the previous window")
    trend = serializers.ChoiceField(choices=["new", "rising", "steady", "falling"])
    examples = GapExampleSerializer(many=True)


class ContentGapsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    questions = serializers.IntegerField(help_text="gap questions in the window (at most GAPS_MAX_QUESTIONS)")
    previous_questions = serializers.IntegerField()
    truncated = serializers.BooleanField(help_text="more questions than GAPS_MAX_QUESTIONS: the latest were used")
    topics = GapTopicSerializer(many=True)


class ContentGapsApi(BotScopedApi):
    read_role = Role.ADMIN

    class FilterSerializer(QuerySerializer):
        days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=365)
        limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=200)

    @extend_schema(
        operation_id="bots_content_gaps",
        parameters=[FilterSerializer],
        responses=ContentGapsSerializer,
        tags=["quality"],
        description="Questions of the last `days` days that were unanswered or got a thumbs-down, grouped into "
        "topics by meaning (most asked first, at most `limit`), with the count in the window before for the trend.",
    )
    def get(self, request, org_slug, bot_id):
        params = self.FilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        result = gaps.content_gaps(organization=self.organization, bot=self.bot, days=params.validated_data["days"])
        result["topics"] = result["topics"][: params.validated_data["limit"]]
        return Response(ContentGapsSerializer(result).data)


# --------------------------------------------------------------------------- evaluation


class EvaluationRunSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", allow_null=True, default=None)
    delta = serializers.SerializerMethodField(help_text="each figure minus the previous finished run's")

    class Meta:
        model = EvaluationRun
        fields = ["id", "status", "parameters", "metrics", "delta", "error", "created_by", "created_at", "finished_at"]

    def get_delta(self, run) -> dict | None:
        return evaluation.evaluation_delta(run.metrics, getattr(run, "previous_metrics", None))


class EvaluationRunDetailSerializer(EvaluationRunSerializer):
    class Meta(EvaluationRunSerializer.Meta):
        fields = [*EvaluationRunSerializer.Meta.fields, "results"]


class EvaluationListCreateApi(BotScopedApi):
    read_role = Role.ADMIN

    class InputSerializer(serializers.Serializer):
        k = serializers.IntegerField(required=False, min_value=1, max_value=50, help_text="k of Recall@k and MRR")

    @extend_schema(
        operation_id="bots_evaluation_list",
        responses=paginated_schema(EvaluationRunSerializer),
        tags=["quality"],
        description="The bot's evaluation runs, latest first: Recall@1, Recall@k, MRR, grounded-answer rate and "
        "refusal rate on its Q&A pairs, and `delta`, the change since the previous finished run.",
    )
    def get(self, request, org_slug, bot_id):
        queryset = evaluation.evaluation_run_list(organization=self.organization, bot=self.bot)
        return paginate(self, request, queryset, EvaluationRunSerializer)

    @extend_schema(
        operation_id="bots_evaluation_create",
        request=InputSerializer,
        responses={202: EvaluationRunSerializer},
        tags=["quality"],
        description="Start an evaluation run on a worker (202, status `pending`); 400 `no_evaluation_set` when "
        "the bot has no Q&A pairs.",
    )
    def post(self, request, org_slug, bot_id):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = evaluation.evaluation_run_create(
            organization=self.organization, bot=self.bot, k=data.validated_data.get("k"), created_by=_user(request)
        )
        return Response(EvaluationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class EvaluationDetailApi(BotScopedApi):
    read_role = Role.ADMIN

    @extend_schema(operation_id="bots_evaluation_retrieve", responses=EvaluationRunDetailSerializer, tags=["quality"])
    def get(self, request, org_slug, bot_id, run_id):
        run = (
            evaluation.evaluation_run_list(organization=self.organization, bot=self.bot)
            .defer(None)
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            raise NotFound("Evaluation run not found.")
        return Response(EvaluationRunDetailSerializer(run).data)
