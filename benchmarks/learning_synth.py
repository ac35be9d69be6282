"""Synthetic learning-platform data: courses of ordered lessons, prerequisites, sequential progress.

The second regime of `recommendations_quality.py` (`--regime learning`), where what comes next is
mostly decided by structure, not by taste alone:
- a catalog of courses (each a parent item) of 4-12 ordered lessons, in subjects (tags); some
  courses require another course of their subject first (the prerequisite is the earlier
  course's last lesson, as `ContentPrerequisite` rows);
- learners pick a few subjects, take courses in them (popular and open courses first, never a
  course whose prerequisite they have not finished), and complete lessons in order, usually to the
  end but sometimes dropping out; now and then they open a stand-alone article of their subject;
- every event is a completion (rating 5 in the u.data-style rows, loaded as `complete`).

    generate(users=1000, courses=300, seed=7) -> (rows, catalog)
    rows: (user, item, rating, timestamp); catalog: {item: dict(title, tags, parent, position, prerequisites)}
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

SUBJECTS = [
    "python", "statistics", "design", "marketing", "finance", "leadership", "writing", "cloud", "security",
    "spanish", "photography", "music",
]  # fmt: skip
START = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


def generate(*, users: int = 1000, courses: int = 300, articles: int = 600, seed: int = 7):
    rng = np.random.default_rng(seed)
    catalog: dict[int, dict] = {}
    next_id = 1
    course_subject = rng.integers(len(SUBJECTS), size=courses)
    course_lessons: list[list[int]] = []
    course_ids = []
    for course in range(courses):
        subject = SUBJECTS[course_subject[course]]
        course_id = next_id
        next_id += 1
        catalog[course_id] = {"title": f"{subject.title()} course {course + 1}", "tags": [subject], "parent": None,
                              "position": 0, "prerequisites": [], "kind": "course"}  # fmt: skip
        lessons = []
        for position in range(int(rng.integers(4, 13))):
            catalog[next_id] = {"title": f"{subject.title()} {course + 1}.{position + 1}", "tags": [subject],
                                "parent": course_id, "position": position + 1, "prerequisites": [],
                                "kind": "lesson"}  # fmt: skip
            lessons.append(next_id)
            next_id += 1
        course_lessons.append(lessons)
        course_ids.append(course_id)
    # prerequisites: a third of the courses need an earlier course of the same subject
    required_by = {}
    for course in range(courses):
        earlier = [c for c in range(course) if course_subject[c] == course_subject[course]]
        if earlier and rng.random() < 0.35:
            before = int(rng.choice(earlier))
            required_by[course] = before
            catalog[course_lessons[course][0]]["prerequisites"].append(course_lessons[before][-1])
    article_ids = []
    article_subject = rng.integers(len(SUBJECTS), size=articles)
    for article in range(articles):
        subject = SUBJECTS[article_subject[article]]
        catalog[next_id] = {"title": f"{subject.title()} article {article + 1}", "tags": [subject], "parent": None,
                            "position": 0, "prerequisites": [], "kind": "article"}  # fmt: skip
        article_ids.append(next_id)
        next_id += 1
    popularity = rng.lognormal(0, 1.0, size=courses)
    article_popularity = rng.lognormal(0, 1.0, size=articles)

    rows = []
    for user in range(1, users + 1):
        liked = rng.choice(len(SUBJECTS), size=int(rng.integers(1, 4)), replace=False)
        moment = rng.uniform(0, 200) * DAY
        finished: set[int] = set()
        taken: set[int] = set()
        for _ in range(int(rng.integers(2, 9))):
            open_courses = [
                c for c in range(courses)
                if course_subject[c] in liked and c not in taken and required_by.get(c, c) in finished | {c}
            ]  # fmt: skip
            if not open_courses:
                break
            weights = popularity[open_courses] * np.where(
                [required_by.get(c) in finished for c in open_courses], 4.0, 1.0
            )  # a follow-up course of one just finished is the natural next step
            course = int(rng.choice(open_courses, p=weights / weights.sum()))
            size = len(course_lessons[course])
            stop = size if rng.random() < 0.75 else int(rng.integers(1, size))
            for lesson in course_lessons[course][:stop]:
                moment += rng.exponential(1.5) * DAY
                rows.append((user, lesson, 5, int(START + moment)))
                if rng.random() < 0.08:
                    pool = [a for a in range(articles) if article_subject[a] in liked]
                    if pool:
                        p = article_popularity[pool] / article_popularity[pool].sum()
                        moment += 0.1 * DAY
                        rows.append((user, article_ids[int(rng.choice(pool, p=p))], 5, int(START + moment)))
            taken.add(course)  # finished or dropped: not taken again
            if stop == len(course_lessons[course]):
                finished.add(course)
            moment += rng.exponential(5) * DAY
    seen = set()
    unique = []
    for row in sorted(rows, key=lambda r: (r[3], r[0], r[1])):
        if (row[0], row[1]) not in seen:
            seen.add((row[0], row[1]))
            unique.append(row)
    return unique, catalog
