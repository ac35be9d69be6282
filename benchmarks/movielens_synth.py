"""Synthetic ratings in the MovieLens 100K format, with the structure real catalogs have.

Writes `u.data` (user, item, rating, timestamp; tab-separated) and `u.item` (id|title|release
date|video release|url|19 genre flags, as in MovieLens 100K) into a folder:

    python benchmarks/movielens_synth.py OUT_DIR [--users 1000] [--items 10000] [--seed 7]

What makes it realistic (and hard for a single method):
- popularity skew: item popularity is log-normal (a few blockbusters, a long tail);
- latent tastes: items mix a few of 20 hidden topics; each user likes a few topics; ratings follow
  taste match, item quality and a per-user bias, so not every consumed item is liked (>= 4);
- genres: each topic maps to MovieLens genres, so an item's genres (its content) are a noisy
  view of its topics;
- drift over time: items are released through the year with a burst of attention when new,
  users' tastes move from one mixture to another over their active period, and users join at
  different times with different activity levels (log-normal).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
WORDS = [
    "night", "river", "storm", "garden", "city", "winter", "silver", "shadow", "island", "machine", "summer",
    "letter", "empire", "journey", "stranger", "ghost", "harbor", "fire", "secret", "mountain", "dream", "road",
    "crown", "echo", "violet", "thunder", "glass", "wolf", "orbit", "lantern",
]  # fmt: skip
START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


def generate(*, users: int = 1000, items: int = 10000, topics: int = 20, days: int = 365, seed: int = 7,
             mean_activity: float = 110.0):  # fmt: skip
    """(ratings [(user, item, rating, ts)], items [(id, title, release_ts, genres)]), ids from 1."""
    rng = np.random.default_rng(seed)
    # Items: a sparse topic mixture, quality, skewed popularity, release day.
    item_topics = rng.dirichlet(np.full(topics, 0.08), size=items)
    quality = rng.normal(0, 0.6, size=items)
    popularity = rng.lognormal(0, 1.4, size=items)
    release = np.where(rng.random(items) < 0.35, 0.0, rng.uniform(0, days * 0.95, size=items))
    topic_genres = [
        rng.choice(np.arange(1, len(GENRES)), size=rng.integers(1, 3), replace=False) for _ in range(topics)
    ]
    catalog = []
    for item in range(items):
        main = np.flatnonzero(item_topics[item] > 0.25)
        genres = {int(g) for t in main for g in topic_genres[t]}
        if rng.random() < 0.2:  # noise: a genre that none of its topics implies
            genres.add(int(rng.integers(1, len(GENRES))))
        genres = sorted(genres)
        title = f"{WORDS[rng.integers(len(WORDS))].title()} {WORDS[rng.integers(len(WORDS))].title()} {item + 1}"
        catalog.append((item + 1, title, START + release[item] * DAY, genres or [0]))

    ratings = []
    log_pop = np.log(popularity)
    for user in range(users):
        taste_start = rng.dirichlet(np.full(topics, 0.25))
        taste_end = rng.dirichlet(np.full(topics, 0.25))
        drift = rng.uniform(0.2, 0.8)
        bias = rng.normal(0, 0.4)
        count = int(np.clip(rng.lognormal(np.log(mean_activity) - 0.5, 1.0), 20, items // 5))
        joined = rng.uniform(0, days * 0.8)
        left = min(days, joined + rng.uniform(30, days))
        segments = 6
        edges = np.linspace(joined, left, segments + 1)
        per_segment = np.diff(np.linspace(0, count, segments + 1).round().astype(int))
        seen = np.zeros(items, dtype=bool)
        for segment in range(segments):
            now = edges[segment]
            share = (segment + 0.5) / segments * drift
            taste = (1 - share) * taste_start + share * taste_end
            affinity = item_topics @ taste * topics  # about 1 on average, up to ~topics for a perfect match
            buzz = 1.5 * np.exp(-np.maximum(now - release, 0) / 30.0)
            logits = 0.9 * log_pop + 1.2 * np.log1p(affinity) * 2 + buzz
            logits[(release > now) | seen] = -np.inf
            n = min(per_segment[segment], int(np.isfinite(logits).sum()))
            if n <= 0:
                continue
            gumbel = logits + rng.gumbel(size=items)
            chosen = np.argpartition(-gumbel, n)[:n]
            seen[chosen] = True
            times = np.sort(rng.uniform(now, edges[segment + 1], size=n))
            rng.shuffle(chosen)
            latent = 1.1 * np.log1p(affinity[chosen]) + quality[chosen] + bias + rng.normal(0, 0.7, size=n)
            stars = np.digitize(latent, [-0.2, 0.5, 1.1, 1.9]) + 1
            for item, star, moment in zip(chosen, stars, times, strict=True):
                ratings.append((user + 1, int(item) + 1, int(star), int(START + moment * DAY)))
    ratings.sort(key=lambda r: (r[3], r[0], r[1]))
    return ratings, catalog


def write(folder: Path, ratings, catalog) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "u.data", "w") as out:
        for user, item, rating, ts in ratings:
            out.write(f"{user}\t{item}\t{rating}\t{ts}\n")
    with open(folder / "u.item", "w", encoding="latin-1") as out:
        for item, title, release, genres in catalog:
            date = datetime.fromtimestamp(release, tz=UTC).strftime("%d-%b-%Y")
            flags = "|".join("1" if g in genres else "0" for g in range(len(GENRES)))
            out.write(f"{item}|{title}|{date}||https://example.com/item/{item}|{flags}\n")


def read(folder_or_file: Path):
    """(ratings, catalog) from a MovieLens-format folder (u.data [+ u.item]) or a u.data file."""
    path = Path(folder_or_file)
    data = path / "u.data" if path.is_dir() else path
    ratings = []
    with open(data) as source:
        for line in source:
            if line.strip():
                user, item, rating, ts = line.split("\t")[:4]
                ratings.append((int(user), int(item), float(rating), int(ts)))
    catalog = {}
    item_file = data.parent / "u.item"
    if item_file.exists():
        with open(item_file, encoding="latin-1") as source:
            for line in source:
                parts = line.rstrip("\n").split("|")
                if len(parts) < 5:
                    continue
                flags = parts[5:]
                genres = [g for g, flag in zip(GENRES, flags, strict=False) if flag == "1"]
                catalog[int(parts[0])] = (parts[1], genres)
    return ratings, catalog


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ratings, catalog = generate(users=args.users, items=args.items, seed=args.seed)
    write(args.out, ratings, catalog)
    positives = sum(1 for r in ratings if r[2] >= 4)
    print(f"{len(ratings)} ratings ({positives / len(ratings):.0%} >= 4) by {args.users} users on {args.items} items")


if __name__ == "__main__":
    main()
