from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework_simplejwt.tokens import RefreshToken

from apps.core.fields import TimeZoneField

User = get_user_model()


def token_pair(user) -> dict:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "full_name", "timezone", "locale", "interests", "date_joined"]


class ProfileInputSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    timezone = TimeZoneField(required=False)
    locale = serializers.RegexField(r"^[a-z]{2,3}([-_][A-Za-z]{2,4})?$", max_length=16, required=False)
    interests = serializers.ListField(child=serializers.CharField(max_length=64), max_length=100, required=False)
