"""Personality API (issue 8): /api/v1/orgs/{org}/personality/...

- instrument/: the questionnaire to answer (items without their keys);
- assessments/: answer it (scored with the published keys; partial or careless answers get a
  low-confidence result with the reasons, unusable ones a 400 naming the problem);
- me/: your profile and answers (GET) and their deletion (DELETE: PostgreSQL rows, Redis caches);
- me/advice/: learning advice with catalog items;
- users/{user_id}/: an admin reads a member's profile, only when the organization enabled
  `personality_admin_access` (403 otherwise, with the reason); users outside the organization are 404.
- /api/v1/orgs/{org}/me/profile/ (issue 18 item 6): the member's whole profile (interests with their evidence,
  progress, chat activity, personality summary) and its deletion (interests and personality data).

People only: API keys get 403 (personality data is personal, never a system's to pull), and nothing
here is reachable through the widget, whose visitors carry no JWT.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.exceptions import ApplicationError
from apps.core.serializers import QuerySerializer
from apps.interests.api.views import InterestSerializer, interest_views_render
from apps.organizations.models import Role
from apps.organizations.tenancy import OrganizationAPIView
from apps.personality import selectors, services
from apps.personality.advice import advice_for
from apps.personality.instrument import INSTRUCTIONS, INSTRUMENTS, SCALE, TRAITS
from apps.personality.member_profile import member_profile_delete, member_profile_get
from apps.personality.models import AssessmentResponse
from apps.progress.api.serializers import ProgressSummarySerializer
from apps.recommendations.selectors import member_get

TAGS = ["personality"]


class TraitSerializer(serializers.Serializer):
    score = serializers.FloatField(allow_null=True, help_text="0..1; null when no source could estimate it.")
    confidence = serializers.FloatField(help_text="0..1.")
    sources = serializers.ListField(
        child=serializers.DictField(), help_text="Each source (questionnaire first) with its score and evidence."
    )


class ProfileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    source = serializers.CharField()
    traits = serializers.DictField(child=TraitSerializer())
    learning_style = serializers.DictField()
    sources = serializers.DictField(child=serializers.CharField(), help_text="What each source looked at.")


def profile_render(profile) -> dict | None:
    if profile is None:
        return None
    evidence = profile.evidence or {}
    traits = {
        trait: {
            "score": getattr(profile, trait),
            "confidence": getattr(profile, f"{trait}_confidence"),
            "sources": (evidence.get(trait) or {}).get("sources", []),
        }
        for trait in TRAITS
    }
    return {
        "id": profile.pk,
        "computed_at": profile.computed_at,
        "source": profile.source,
        "traits": traits,
        "learning_style": profile.learning_style or {},
        "sources": evidence.get("_sources", {}),
    }


class AssessmentResultSerializer(serializers.Serializer):
    instrument = serializers.CharField()
    scores = serializers.DictField(child=serializers.FloatField(allow_null=True))
    confidence = serializers.DictField(child=serializers.FloatField())
    answered = serializers.IntegerField()
    missing = serializers.ListField(child=serializers.IntegerField())
    flags = serializers.ListField(child=serializers.CharField(), help_text="incomplete, straight_lining")
    reasons = serializers.ListField(child=serializers.CharField())


class AssessmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    instrument = serializers.CharField()
    answers = serializers.DictField(child=serializers.IntegerField())
    result = AssessmentResultSerializer()
    created_at = serializers.DateTimeField()


class PersonalityApi(OrganizationAPIView):
    read_role = Role.MEMBER
    write_role = Role.MEMBER
    api_key_allowed = False


class PersonalityInstrumentApi(PersonalityApi):
    class FilterSerializer(QuerySerializer):
        instrument = serializers.ChoiceField(choices=sorted(INSTRUMENTS), required=False, default="mini_ipip")

    class ItemSerializer(serializers.Serializer):
        number = serializers.IntegerField()
        text = serializers.CharField()

    class OutputSerializer(serializers.Serializer):
        instrument = serializers.CharField()
        name = serializers.CharField()
        citation = serializers.CharField()
        instructions = serializers.CharField()
        scale = serializers.DictField(child=serializers.CharField())
        items = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="personality_instrument",
        parameters=[FilterSerializer],
        responses=OutputSerializer,
        tags=TAGS,
        description="The questionnaire (public-domain IPIP items): `ipip50` (50 items) or `mini_ipip` (20 items, the "
        "default). Answer every item from 1 (very inaccurate) to 5 (very accurate).",
    )
    def get(self, request, org_slug):
        params = self.FilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        instrument = INSTRUMENTS[params.validated_data["instrument"]]
        return Response(
            {
                "instrument": instrument.code,
                "name": instrument.name,
                "citation": instrument.citation,
                "instructions": INSTRUCTIONS,
                "scale": {str(k): v for k, v in SCALE.items()},
                "items": [{"number": item.number, "text": item.text} for item in instrument.items],
            }
        )


ANSWER = {"type": "integer", "minimum": 1, "maximum": 5}


class PersonalityAssessmentCreateApi(PersonalityApi):
    class InputSerializer(serializers.Serializer):
        instrument = serializers.ChoiceField(choices=sorted(INSTRUMENTS))
        answers = serializers.DictField(
            child=serializers.JSONField(), allow_empty=False, help_text='Item number -> 1..5, e.g. {"1": 4, "2": 2}.'
        )

    # The item numbers depend on the instrument: one schema branch per instrument states its items.
    input_schema = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "instrument": {"type": "string", "enum": [code]},
                    "answers": {
                        "type": "object",
                        "minProperties": 1,
                        "properties": {str(item.number): ANSWER for item in instrument.items},
                        "additionalProperties": False,
                        "description": f'Item number (1-{len(instrument.items)}) -> answer 1..5, e.g. {{"1": 4}}.',
                    },
                },
                "required": ["instrument", "answers"],
            }
            for code, instrument in sorted(INSTRUMENTS.items())
        ]
    }

    @extend_schema(
        operation_id="personality_assessment_create",
        request={"application/json": input_schema},
        responses={201: AssessmentSerializer},
        tags=TAGS,
        description="Answer the questionnaire for yourself. Scored at once with the published keys; your profile is "
        "recomputed in the background. Missing items lower the confidence of their trait (a trait with fewer than "
        "half its items is not scored); the same answer to (nearly) every item is scored with low confidence; "
        "unknown items, values off the 1-5 scale or nothing scorable: 400.",
    )
    def post(self, request, org_slug):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        response = services.assessment_submit(organization=self.organization, user=request.user, **data.validated_data)
        return Response(AssessmentSerializer(response).data, status=status.HTTP_201_CREATED)


class PersonalityMeApi(PersonalityApi):
    class OutputSerializer(serializers.Serializer):
        profile = ProfileSerializer(allow_null=True)
        assessments = AssessmentSerializer(many=True)
        admin_access = serializers.BooleanField(help_text="Whether this organization's admins may see your profile.")

    class DeletedSerializer(serializers.Serializer):
        deleted = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(
        operation_id="personality_me",
        responses=OutputSerializer,
        tags=TAGS,
        description="Your personality profile (every trait with its confidence, sources and evidence) and your "
        "questionnaire answers.",
    )
    def get(self, request, org_slug):
        profile = selectors.profile_latest_get(organization=self.organization, user_id=request.user.pk)
        assessments = selectors.assessment_list(organization=self.organization, user_id=request.user.pk)
        return Response(
            self.OutputSerializer(
                {
                    "profile": profile_render(profile),
                    "assessments": list(assessments),
                    "admin_access": self.organization.personality_admin_access,
                }
            ).data
        )

    @extend_schema(
        operation_id="personality_me_delete",
        responses={200: DeletedSerializer},
        tags=TAGS,
        description="Delete your profile and answers in this organization: the rows in PostgreSQL, the cached "
        "profile and recommendation lists in Redis. Nothing personality-related is kept in the knowledge graph.",
    )
    def delete(self, request, org_slug):
        deleted = services.profile_delete(organization=self.organization, user_id=request.user.pk)
        return Response({"deleted": deleted})


class PersonalityAdviceApi(PersonalityApi):
    class TipSerializer(serializers.Serializer):
        code = serializers.CharField()
        message = serializers.CharField()
        based_on = serializers.DictField()
        items = serializers.ListField(child=serializers.DictField())

    class OutputSerializer(serializers.Serializer):
        profile = serializers.BooleanField()
        tips = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="personality_advice",
        responses=OutputSerializer,
        tags=TAGS,
        description="Learning advice for you: concrete suggestions, each with what it is based on and catalog items.",
    )
    def get(self, request, org_slug):
        return Response(advice_for(organization_id=self.organization.pk, user_id=request.user.pk))


class PersonalityUserApi(PersonalityApi):
    read_role = Role.ADMIN

    class OutputSerializer(serializers.Serializer):
        user = serializers.DictField()
        profile = ProfileSerializer(allow_null=True)
        assessments = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        operation_id="personality_user",
        responses=OutputSerializer,
        tags=TAGS,
        description="Admins: a member's profile, only if the organization enabled admin access to personality "
        "profiles (otherwise 403). Raw answers are not shown, only the scored results.",
    )
    def get(self, request, org_slug, user_id):
        membership = member_get(organization=self.organization, user_id=user_id)
        if not self.organization.personality_admin_access:
            raise ApplicationError(
                "This organization has not enabled admin access to personality profiles "
                "(the organization setting 'personality admin access' is off).",
                code="personality_admin_access_disabled",
                status_code=status.HTTP_403_FORBIDDEN,
            )
        profile = selectors.profile_latest_get(organization=self.organization, user_id=user_id)
        assessments: list[AssessmentResponse] = list(
            selectors.assessment_list(organization=self.organization, user_id=user_id)
        )
        user = membership.user
        return Response(
            {
                "user": {"id": user.pk, "email": user.email, "full_name": getattr(user, "full_name", "")},
                "profile": ProfileSerializer(profile_render(profile)).data if profile else None,
                "assessments": [
                    {"id": a.pk, "instrument": a.instrument, "result": a.result, "created_at": a.created_at}
                    for a in assessments
                ],
            }
        )


# --------------------------------------------------------------------------- the member's profile (issue 18 item 6)


class ProfileChatSerializer(serializers.Serializer):
    questions = serializers.IntegerField(help_text="Questions you asked the bots in this organization.")
    last_asked_at = serializers.DateTimeField(allow_null=True)


class ProfileTraitSerializer(serializers.Serializer):
    score = serializers.FloatField(allow_null=True)
    confidence = serializers.FloatField()


class ProfilePersonalitySerializer(serializers.Serializer):
    computed_at = serializers.DateTimeField()
    traits = serializers.DictField(child=ProfileTraitSerializer())
    learning_style = serializers.DictField()
    admin_access = serializers.BooleanField(help_text="Whether this organization's admins may see your profile.")


class MemberProfileMeApi(PersonalityApi):
    """GET/DELETE me/profile/: one profile per member, visible to that member only (no API keys, no admins)."""

    class OutputSerializer(serializers.Serializer):
        user = serializers.IntegerField()
        interests = InterestSerializer(many=True)
        progress = ProgressSummarySerializer()
        chat = ProfileChatSerializer()
        personality = ProfilePersonalitySerializer(allow_null=True)

    class DeletedSerializer(serializers.Serializer):
        deleted = serializers.DictField(child=serializers.IntegerField())

    @extend_schema(
        operation_id="me_profile",
        responses=OutputSerializer,
        tags=["interests"],
        description="Everything Beacon learnt about you in this organization: your interests with their evidence "
        "(source: stated, synced, inferred, chat; weight now; first and last seen; for chat, the catalog items "
        "your questions matched), your progress, your chat activity and your personality summary.",
    )
    def get(self, request, org_slug):
        profile = member_profile_get(organization=self.organization, user=request.user)
        profile["interests"] = interest_views_render(profile["interests"])
        return Response(self.OutputSerializer(profile).data)

    @extend_schema(
        operation_id="me_profile_delete",
        responses={200: DeletedSerializer},
        tags=["interests"],
        description="Delete what Beacon learnt about you here: every interest (all sources, chat evidence too) and "
        "your personality data (as DELETE personality/me/). Your conversations stay (delete them on their own).",
    )
    def delete(self, request, org_slug):
        deleted = member_profile_delete(organization=self.organization, user_id=request.user.pk)
        return Response({"deleted": deleted})
