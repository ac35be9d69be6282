"""The first-run steps `manage.py devstack` runs after migrating (docs/architecture.md, "Hooks").

Core runs the platform but owns no content: an upper app registers a step in its
`AppConfig.ready()` (the demo app: the demo organization's bot, catalog, members and recommender).
A step takes the base URL the web server will answer on and returns the (label, URL) lines that
devstack prints with its own; it must be idempotent (every `make run` calls it).
"""

from __future__ import annotations

from collections.abc import Callable

FirstRunStep = Callable[[str], list[tuple[str, str]]]

_steps: list[FirstRunStep] = []


def first_run_register(step: FirstRunStep) -> None:
    """Run `step` on every development start (once per process, whatever ready() does)."""
    if step not in _steps:
        _steps.append(step)


def first_run(*, base_url: str) -> list[tuple[str, str]]:
    """Run the registered steps in registration order; their URLs, in order."""
    urls: list[tuple[str, str]] = []
    for step in _steps:
        urls += step(base_url)
    return urls
