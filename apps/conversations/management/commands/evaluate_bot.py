"""Evaluate a bot on its Q&A pairs and store the run (docs/quality.md).

    manage.py evaluate_bot <bot id> [--k 5] [--json]

Prints Recall@1, Recall@k, MRR, grounded-answer rate and refusal rate, with the change since the
bot's previous finished run, and stores the run (it then appears in GET .../bots/{bot}/evaluation/).
Runs here, in this process (the API's POST runs the same service on a worker).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.bots.models import Bot
from apps.conversations import evaluation
from apps.conversations.models import EvaluationRun, QAPair

LABELS = {
    "recall_at_1": "Recall@1",
    "recall_at_k": "Recall@{k}",
    "mrr": "MRR@{k}",
    "grounded_answer_rate": "grounded-answer rate",
    "refusal_rate": "refusal rate",
}


class Command(BaseCommand):
    help = "Recall@k, MRR, grounded-answer rate and refusal rate of a bot on its Q&A pairs (stored as a run)."

    def add_arguments(self, parser):
        parser.add_argument("bot_id", type=int, help="the bot's id")
        parser.add_argument("--k", type=int, default=None, help="k of Recall@k and MRR (default EVALUATION_K)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the run as JSON")

    def handle(self, *args, bot_id: int, k: int | None, as_json: bool, **options):
        bot = Bot.objects.select_related("organization").filter(pk=bot_id).first()
        if bot is None:
            raise CommandError(f"Unknown bot {bot_id}.")
        if k is not None and not 1 <= k <= 50:
            raise CommandError("--k must be from 1 to 50.")
        if not QAPair.objects.filter(organization=bot.organization, bot=bot).exists():
            raise CommandError(f"Bot {bot_id} has no Q&A pairs to evaluate: add some, or correct answers, first.")
        run = EvaluationRun.objects.create(
            organization=bot.organization, bot=bot, parameters=evaluation.evaluation_parameters(bot, k)
        )
        run = evaluation.evaluation_run_execute(run=run)
        previous = (
            evaluation.evaluation_run_list(organization=bot.organization, bot=bot).filter(pk=run.pk).first()
        ).previous_metrics
        delta = evaluation.evaluation_delta(run.metrics, previous) or {}
        if as_json:
            payload = {"run_id": run.pk, "parameters": run.parameters, "metrics": run.metrics, "delta": delta or None}
            self.stdout.write(json.dumps(payload, indent=2))
            return
        metrics = run.metrics
        self.stdout.write(
            f"Bot {bot.pk} ({bot.name}): {metrics['pairs']} Q&A pairs, {metrics['answered']} answered, "
            f"answerer {run.parameters['answerer']}, run {run.pk}"
        )
        for name, label in LABELS.items():
            value = metrics.get(name)
            shown = "n/a" if value is None else f"{value:.3f}"
            change = f"  ({delta[name]:+.3f} since the previous run)" if name in delta else ""
            self.stdout.write(f"  {label.format(k=metrics['k']):<22} {shown}{change}")
