"""Personality recovery: how well does each source recover known traits? (issue 8)

Synthetic users are drawn with known Big Five traits (each uniform in 0.05..0.95, independent), and
each source's evidence is generated from those traits, then run through the product's own code:
- questionnaire: answers to the IPIP-50 and to the Mini-IPIP from a simple response model
  (response = round(3 + 1.8 * (2 * trait - 1) * key + N(0, 0.9)), clipped to 1..5), scored by
  `personality.scoring.assessment_score` with the published keys;
- behaviour: a catalog of 8 categories x 30 items with a popularity skew; each user engages 12-30
  items; conscientiousness drives completion (0.2 + 0.6 C + N(0, 0.15)), regular active days and
  mornings; openness drives how many categories, long-tail items and kinds are tried; extraversion
  drives sharing. Rows go through `behaviour_features` and `behaviour_estimate` (the same functions the
  worker runs on the database rows). Agreeableness and neuroticism have no behaviour estimate by design;
- text: 16 sentences written from generated item-like statements (not the IPIP items the offline path
  compares against), each trait's positive pole chosen with probability = the trait, plus 6 neutral
  questions, run through `personality.text.text_estimate` offline (embeddings, no language model);
- combined: `estimates_combine` of Mini-IPIP + behaviour + text, and of behaviour + text alone (a user
  who never answered the questionnaire).

Reported per source and trait: Pearson r between true and recovered traits (on the users the source
could estimate; coverage in brackets), and the mean absolute error as a ratio of the same-run constant
baseline (everyone 0.5) — below 1 is better than knowing nothing. A random estimator (uniform 0..1)
gives the r a source must beat. The generated behaviour and text are cleaner than real data (every
signal here is caused by the trait), so these figures are upper bounds for behaviour and text.

    python benchmarks/personality_recovery.py [--users 300] [--seed 7]
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAITS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
STATEMENTS = {
    "openness": (
        ["I love exploring ideas from completely different fields.", "I enjoy thinking about abstract theories.",
         "I like to imagine new ways of doing things.", "Art and poetry move me deeply.",
         "I get curious about every new topic I come across."],
        ["I prefer sticking to what I already know.", "Abstract theories bore me.",
         "I like clear practical facts better than new ideas.", "I rarely daydream or imagine things.",
         "I don't see the point of art or philosophy."],
    ),
    "conscientiousness": (
        ["I always plan my study time in advance.", "I finish my tasks before I relax.",
         "I keep my notes neatly organised.", "I follow my schedule every single day.",
         "I double-check my work for details."],
        ["I often leave my tasks unfinished.", "I tend to procrastinate until the last minute.",
         "My notes are a mess and I lose things.", "I skip my plans when something else comes up.",
         "I rush through my work without checking it."],
    ),
    "extraversion": (
        ["I love meeting new people at events.", "I enjoy chatting with everyone in the group.",
         "I feel energised when I am around lots of people.", "I like being the one who speaks up first.",
         "I make friends very easily."],
        ["I prefer to stay quiet in groups.", "I find it hard to approach people I don't know.",
         "Big crowds drain my energy.", "I let others do the talking in meetings.",
         "I am a very private person."],
    ),
    "agreeableness": (
        ["I care a lot about how other people feel.", "I like helping others with their problems.",
         "I try to make everyone feel welcome.", "I am patient and kind with people.",
         "I always thank people for their help."],
        ["Other people's problems are not my concern.", "I can be harsh and critical of people.",
         "I don't have time for other people's feelings.", "I tell people off when they annoy me.",
         "I don't really care what others think of me."],
    ),
    "neuroticism": (
        ["I get stressed very easily before exams.", "I worry about things all the time.",
         "My mood changes a lot during the day.", "Small problems upset me for hours.",
         "I often feel anxious and down."],
        ["I stay calm under pressure.", "I rarely worry about anything.", "My mood is very stable.",
         "Setbacks don't upset me much.", "I feel relaxed most of the time."],
    ),
}  # fmt: skip
FILLERS = [
    "Where can I find the next lesson of the course?", "How do I reset my password on this site?",
    "Can you explain what the quiz at the end covers?", "Is there a certificate when I finish this module?",
    "What time does the live session start tomorrow?", "Which video explains the basics of this topic?",
]  # fmt: skip
TEMPLATES = ["{}", "Honestly, {}", "To be fair, {}", "{} That's just how I am.", "My friends would say: {}"]


def setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    settings.OPENAI_API_KEY = None  # the offline text path: no model calls in a benchmark
    settings.OPENAI_BASE_URL = None


def pearson(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3 or statistics.pstdev(xs) == 0 or statistics.pstdev(ys) == 0:
        return None
    return statistics.correlation(xs, ys)


def answers_for(instrument, traits: dict, rng: random.Random) -> dict:
    out = {}
    for item in instrument.items:
        latent = (2 * traits[item.trait] - 1) * item.key
        out[item.number] = min(5, max(1, round(3 + 1.8 * latent + rng.gauss(0, 0.9))))
    return out


def behaviour_rows_for(traits: dict, catalog: dict, rng: random.Random):
    from apps.personality.behaviour import BehaviourRows

    c, o, e = traits["conscientiousness"], traits["openness"], traits["extraversion"]
    n_items = rng.randint(12, 30)
    favourites = rng.sample(catalog["categories"], 2)
    completion = min(0.98, max(0.02, 0.2 + 0.6 * c + rng.gauss(0, 0.15)))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    day, progress, interactions, chosen = 0, [], [], set()
    for _ in range(n_items):
        explore = rng.random() < o
        category = rng.choice(catalog["categories"]) if explore else rng.choice(favourites)
        pool = [i for i in catalog["by_category"][category] if i not in chosen]
        if not pool:
            continue
        pool.sort(key=lambda i: -catalog["items"][i].popularity)
        item = rng.choice(pool[len(pool) // 3 :]) if rng.random() < o else rng.choice(pool[: max(1, len(pool) // 3)])
        chosen.add(item)
        day += 1 if rng.random() < c else rng.randint(1, 12)
        hour = rng.choice([7, 8, 9, 10]) if rng.random() < 0.2 + 0.6 * c else rng.choice([14, 20, 23, 1])
        at = start + timedelta(days=day, hours=hour)
        interactions.append((item, "view", at))
        interactions.append((item, "start", at))
        done = rng.random() < completion
        if done:
            interactions.append((item, "complete", at + timedelta(minutes=30)))
        if rng.random() < 0.02 + 0.3 * e:
            interactions.append((item, "share", at + timedelta(minutes=31)))
        progress.append(
            (item, "completed" if done else "in_progress", at, at + timedelta(minutes=30) if done else None)
        )
    return BehaviourRows(progress=progress, interactions=interactions, items=catalog["items"],
                         catalog_categories=len(catalog["categories"]), catalog_kinds=4)  # fmt: skip


def text_for(traits: dict, rng: random.Random) -> list[str]:
    sentences = []
    for _ in range(16):
        trait = rng.choice(TRAITS)
        positive, negative = STATEMENTS[trait]
        statement = rng.choice(positive if rng.random() < traits[trait] else negative)
        sentences.append(rng.choice(TEMPLATES).format(statement))
    sentences += rng.sample(FILLERS, 6)
    rng.shuffle(sentences)
    return [" ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)]  # two sentences a message


def make_catalog(rng: random.Random) -> dict:
    from apps.personality.behaviour import ItemInfo

    categories = [f"cat{n}" for n in range(8)]
    kinds = ["article", "video", "lesson", "podcast"]
    items, by_category, next_id = {}, {c: [] for c in categories}, 1
    for category in categories:
        for rank in range(30):
            items[next_id] = ItemInfo(kind=rng.choice(kinds), categories=[category], in_course=rng.random() < 0.3,
                                      duration_minutes=rng.choice([5, 10, 20, 45, 60]),
                                      popularity=1 / (1 + rank) ** 0.8)  # fmt: skip
            by_category[category].append(next_id)
            next_id += 1
    return {"categories": categories, "items": items, "by_category": by_category}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    setup()
    from apps.personality.behaviour import behaviour_estimate, behaviour_features
    from apps.personality.combine import Estimate, estimates_combine
    from apps.personality.instrument import IPIP50, MINI_IPIP
    from apps.personality.scoring import assessment_score
    from apps.personality.text import text_estimate

    rng = random.Random(args.seed)
    catalog = make_catalog(rng)
    sources = ["ipip50", "mini_ipip", "behaviour", "text", "combined", "combined_no_questionnaire", "random"]
    truth = {t: [] for t in TRAITS}
    recovered = {s: {t: [] for t in TRAITS} for s in sources}  # (index, value)
    timings = {s: 0.0 for s in ["questionnaire", "behaviour", "text"]}

    def questionnaire_estimate(result) -> Estimate:
        scores = {t: v for t, v in result["scores"].items() if v is not None}
        return Estimate("questionnaire", scores, {t: result["confidence"][t] for t in scores})

    for index in range(args.users):
        traits = {t: rng.uniform(0.05, 0.95) for t in TRAITS}
        for t in TRAITS:
            truth[t].append(traits[t])
        started = time.perf_counter()
        ipip = assessment_score(instrument_code="ipip50", answers=answers_for(IPIP50, traits, rng))
        mini = assessment_score(instrument_code="mini_ipip", answers=answers_for(MINI_IPIP, traits, rng))
        timings["questionnaire"] += time.perf_counter() - started
        started = time.perf_counter()
        behaviour = behaviour_estimate(behaviour_features(behaviour_rows_for(traits, catalog, rng)))
        timings["behaviour"] += time.perf_counter() - started
        started = time.perf_counter()
        text, _ = text_estimate(text_for(traits, rng))
        timings["text"] += time.perf_counter() - started
        mini_estimate = questionnaire_estimate(mini)
        parts = [e for e in (behaviour, text) if e is not None]
        combined = estimates_combine([mini_estimate, *parts])
        no_questionnaire = estimates_combine(parts)
        for t in TRAITS:
            for name, value in (
                ("ipip50", ipip["scores"][t]), ("mini_ipip", mini["scores"][t]),
                ("behaviour", behaviour.scores.get(t) if behaviour else None),
                ("text", text.scores.get(t) if text else None),
                ("combined", combined["scores"][t]), ("combined_no_questionnaire", no_questionnaire["scores"][t]),
                ("random", rng.random()),
            ):  # fmt: skip
                if value is not None:
                    recovered[name][t].append((index, value))

    print(f"Personality recovery: {args.users} synthetic users, seed {args.seed}")
    per_user = {name: 1000 * seconds / args.users for name, seconds in timings.items()}
    print(
        f"time per user: questionnaires {per_user['questionnaire']:.2f} ms, behaviour "
        f"{per_user['behaviour']:.2f} ms, offline text {per_user['text']:.1f} ms"
    )
    print("\nPearson r between true and recovered trait (coverage in brackets); random estimator = same-run baseline")
    header = f"{'source':28}" + "".join(f"{t[:13]:>16}" for t in TRAITS) + f"{'mean r':>9}"
    print(header)
    summary = {}
    for source in sources:
        cells, rs, ratios = [], [], []
        for t in TRAITS:
            pairs = recovered[source][t]
            xs = [truth[t][i] for i, _ in pairs]
            ys = [v for _, v in pairs]
            r = pearson(xs, ys)
            mae = statistics.fmean(abs(x - y) for x, y in zip(xs, ys, strict=True)) if pairs else None
            base = statistics.fmean(abs(x - 0.5) for x in xs) if pairs else None
            if r is None:
                cells.append(f"{'n/a':>16}")
                continue
            rs.append(r)
            ratios.append(mae / base)
            cells.append(f"{r:>9.2f} [{len(pairs) / args.users:>4.0%}]")
        mean_r = statistics.fmean(rs) if rs else float("nan")
        summary[source] = (mean_r, statistics.fmean(ratios) if ratios else float("nan"))
        print(f"{source:28}" + "".join(cells) + f"{mean_r:>9.2f}")
    print("\nMean absolute error as a ratio of the constant baseline (everyone 0.5); < 1 beats knowing nothing")
    for source in sources:
        print(f"{source:28}{summary[source][1]:>9.2f}")


if __name__ == "__main__":
    main()
