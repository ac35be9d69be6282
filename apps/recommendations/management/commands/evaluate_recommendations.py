"""Offline evaluation of an organization's recommendations on a temporal hold-out.

    manage.py evaluate_recommendations --org SLUG [--fraction 0.2] [--k 10] [--max-users 2000] [--json]

Each user's latest positive interactions (the last `fraction`, by time) are held out; the engine is
fitted on the rest exactly as the training task would fit it (ALS size, half-lives and blend
blend learnt on a validation split cut from those training events only), then every learnt
source alone and the blend are scored: precision@k, recall@k, nDCG@k and catalog coverage.
Nothing is written: the serving model is untouched. Course order and knowledge-graph candidates
have fixed weights and are not part of this evaluation (they need structure the events lack).
"""

import json

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.core.progress_report import ProgressReport
from apps.organizations.models import Organization
from apps.recommendations.engine.blend import LEARNT_SOURCES
from apps.recommendations.engine.metrics import ranking_metrics, temporal_holdout
from apps.recommendations.engine.offline import OfflineModel, blend_learn
from apps.recommendations.services import engine_params, item_vectors_load, training_events_load


class Command(BaseCommand):
    help = "Precision/recall/nDCG@k and coverage of each recommendation source and the blend (temporal hold-out)."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="organization slug")
        parser.add_argument("--fraction", type=float, default=0.2, help="share of each user's positives held out")
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--max-users", type=int, default=0, help="evaluate a random sample of test users (0: all)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the figures as JSON")

    def handle(self, *args, org, fraction, k, max_users, as_json: bool, **options):
        organization = Organization.objects.filter(slug=org).first()
        if organization is None:
            raise CommandError(f"Unknown organization {org!r}.")
        if not 0 < fraction < 1:
            raise CommandError("--fraction must be between 0 and 1.")
        events, _ = training_events_load(organization_id=organization.pk)
        n_users, n_items = len(events.user_ids), len(events.item_ids)
        split = temporal_holdout(events.users, events.items, events.times, events.positive, fraction=fraction)
        if not split.test:
            raise CommandError("Not enough positive interactions to hold any out (users need at least 2).")
        test = split.test
        if max_users and len(test) > max_users:
            chosen = np.random.default_rng(7).choice(sorted(test), size=max_users, replace=False)
            test = {int(user): test[int(user)] for user in chosen}
        train = events.subset(split.train)
        vectors = item_vectors_load(organization_id=organization.pk, item_ids=events.item_ids)
        sources = tuple(s for s in LEARNT_SOURCES if s != "content" or vectors is not None)
        progress = ProgressReport(
            total=len(test) * (len(sources) + 1), unit="user", label="evaluate_recommendations",
            stream=self.stderr._out,
        )  # fmt: skip
        with progress:
            progress.stage("learning the blend on a validation split")
            choice = blend_learn(
                train, n_users=n_users, n_items=n_items, params=engine_params(), item_vectors=vectors,
                max_users=settings.REC_VALIDATION_USERS, sources=sources,
            )  # fmt: skip
            progress.stage("fitting the model")
            model = OfflineModel(train, n_users=n_users, n_items=n_items, params=choice.params, item_vectors=vectors)
            model.fit()
            rows = {}
            for source in sources:
                recommended = {}
                for u in test:
                    recommended[u] = model.recommend(u, k=k, weights={source: 1.0}, sources=(source,))
                    progress.update(1, note=f"scoring {source}")
                rows[source] = ranking_metrics(recommended, test, k=k, n_items=n_items)
            blended = {}
            for u in test:
                blended[u] = model.recommend(u, k=k)
                progress.update(1, note="scoring the blend")
            rows["blended"] = ranking_metrics(blended, test, k=k, n_items=n_items)
        report = {
            "organization": organization.slug,
            "users": n_users,
            "items": n_items,
            "events": len(events),
            "test_users": len(test),
            "held_out": sum(len(v) for v in test.values()),
            "k": k,
            "learnt": {"ranker": choice.params.ranker, "weights": choice.params.weights, **choice.validation},
            "metrics": rows,
        }
        if as_json:
            self.stdout.write(_dumps(report))
            return
        self.stdout.write(
            f"{organization.slug}: {n_users} users, {n_items} items, {len(events)} events; "
            f"{report['held_out']} held-out positives of {len(test)} users (last {fraction:.0%} by time)"
        )
        self.stdout.write(
            f"learnt on a validation split of the training events: {choice.validation.get('blend')}, "
            f"importance {choice.validation.get('importance')}"
        )
        self.stdout.write(
            f"{'source':14s} {'P@' + str(k):>8s} {'R@' + str(k):>8s} {'nDCG@' + str(k):>9s} {'coverage':>9s}"
        )
        for name, m in rows.items():
            self.stdout.write(
                f"{name:14s} {m['precision']:8.4f} {m['recall']:8.4f} {m['ndcg']:9.4f} {m['coverage']:9.4f}"
            )


def _dumps(value) -> str:
    return json.dumps(value, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))
