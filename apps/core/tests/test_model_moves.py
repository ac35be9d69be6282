"""apps/core/model_moves.py (issue 15): the content types of models moved between apps follow them,
forwards and backwards, and the moved models' content types carry the new app label after migrate."""

from types import SimpleNamespace

import pytest
from django.apps import apps as global_apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from apps.core.model_moves import content_types_move
from apps.graph.models import GraphOutbox
from apps.personality.models import AssessmentResponse, PersonalityDeletion, PersonalityProfile

pytestmark = pytest.mark.django_db


def test_content_types_are_relabelled_both_ways_and_an_existing_target_is_left_alone():
    moved = ContentType.objects.create(app_label="oldapp", model="moved")
    taken_old = ContentType.objects.create(app_label="oldapp", model="taken")
    taken_new = ContentType.objects.create(app_label="newapp", model="taken")
    other = ContentType.objects.create(app_label="oldapp", model="stays")
    operation = content_types_move(old_app="oldapp", new_app="newapp", models=["moved", "taken"])
    editor = SimpleNamespace(connection=connection)

    operation.code(global_apps, editor)
    rows = {pk: (ct.app_label, ct.model) for pk, ct in ContentType.objects.in_bulk().items()}
    assert rows[moved.pk] == ("newapp", "moved")
    assert rows[taken_old.pk] == ("oldapp", "taken") and rows[taken_new.pk] == ("newapp", "taken")
    assert rows[other.pk] == ("oldapp", "stays")

    operation.reverse_code(global_apps, editor)
    assert ContentType.objects.get(pk=moved.pk).app_label == "oldapp"


def test_the_moved_models_content_types_carry_their_new_app():
    labels = {model: ContentType.objects.get_for_model(model).app_label for model in (GraphOutbox, PersonalityProfile)}
    assert labels == {GraphOutbox: "graph", PersonalityProfile: "personality"}
    for model in (GraphOutbox, AssessmentResponse, PersonalityDeletion, PersonalityProfile):
        assert not ContentType.objects.filter(app_label="recommendations", model=model._meta.model_name).exists()
