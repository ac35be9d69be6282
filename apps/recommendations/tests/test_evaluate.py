"""`manage.py evaluate_recommendations` (issue 7): per-source and blended metrics on a temporal
hold-out, JSON output, nothing written, unknown organization and too little data refused."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.organizations.tests.factories import OrganizationFactory
from apps.recommendations.models import RecommenderModel
from apps.recommendations.tests.rec_utils import build_world

pytestmark = pytest.mark.django_db


def test_evaluate_reports_each_source_and_the_blend(organization):
    """Every learnt source and the blend get precision/recall/nDCG/coverage; the serving model is untouched."""
    build_world(organization)
    out = StringIO()
    call_command("evaluate_recommendations", "--org", organization.slug, "--json", stdout=out)
    report = json.loads(out.getvalue())
    sources = {"cf", "cooccurrence", "ease", "rp3beta", "sequence", "content", "popular", "trending"}  # issue 18
    assert set(report["metrics"]) == {*sources, "blended"}
    # 4 to 6 likes each: the last 20% (at least one) is 1 like, or 2 for the users with 6: 12 in all
    assert report["test_users"] == 10 and report["held_out"] == 12
    for metrics in report["metrics"].values():
        assert set(metrics) == {"precision", "recall", "ndcg", "coverage", "users"}
        assert 0 <= metrics["ndcg"] <= 1 and metrics["users"] == 10
    # Taste clusters make the held-out like predictable from the others: the blend finds some.
    assert report["metrics"]["blended"]["recall"] > 0
    assert set(report["learnt"]["ranker"]["sources"]) == sources
    assert not RecommenderModel.objects.filter(organization=organization).exists()

    table, err = StringIO(), StringIO()
    call_command("evaluate_recommendations", "--org", organization.slug, stdout=table, stderr=err)
    # Off a terminal, progress is plain lines on stderr (issue 16): 10 users scored by 8 sources and the blend.
    progress = err.getvalue().splitlines()
    assert progress[0] == "evaluate_recommendations: 0/90 users (0%) - learning the blend on a validation split"
    assert progress[-1] == "evaluate_recommendations: 90/90 users (100%) - scoring the blend"
    lines = table.getvalue().splitlines()
    assert lines[2].split() == ["source", "P@10", "R@10", "nDCG@10", "coverage"]
    assert [line.split()[0] for line in lines[3:]] == [
        "cf",
        "cooccurrence",
        "ease",
        "rp3beta",
        "sequence",
        "content",
        "popular",
        "trending",
        "blended",
    ]


def test_evaluate_refuses_unknown_organizations_and_empty_data():
    """A wrong slug and an organization without events are clear errors."""
    with pytest.raises(CommandError, match="Unknown organization"):
        call_command("evaluate_recommendations", "--org", "nope")
    with pytest.raises(CommandError, match="Not enough positive interactions"):
        call_command("evaluate_recommendations", "--org", OrganizationFactory().slug)
