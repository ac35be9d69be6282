"""Re-ranking hooks: extra factors on the blended scores, registered by other parts of the product.

A hook is called once per request with the organization, the user and the candidate items (dicts
with id, kind, tags, categories, difficulty) and returns {item_id: (factor, reason or None)}; a
factor multiplies the item's score. A reason starting with ", " is a *fit suffix* (issue 8:
", which suits your preference for structured courses"): it is personal, so it is never joined to
the item's own reason by the engine; the ranked entry carries it apart as `fit_reason`, the cached
list keeps it apart, RecommendationLog never stores it, and only the API decides whether the caller
may read it (services.recommendations_serve(personal_reasons=...)). Any other reason replaces the
item's reason and is shown to every caller: hooks with private text must use the suffix form.
Items a hook does not mention keep factor 1.

Registered today: the personality/learning-style fit of issue 8 (`apps.personality.rerank.personality_fit`),
from `PersonalityConfig.ready()`; with that app not installed nothing is registered and no fit is
pretended. The engine never imports a hook's app: the hook's app imports this module.
"""

from __future__ import annotations

from collections.abc import Callable

RerankHook = Callable[..., dict[int, tuple[float, str | None]]]

_hooks: list[RerankHook] = []


def rerank_hook_register(hook: RerankHook) -> RerankHook:
    """Register `hook(organization_id=..., user_id=..., items=[...])`; usable as a decorator."""
    if hook not in _hooks:
        _hooks.append(hook)
    return hook


def rerank_hook_unregister(hook: RerankHook) -> None:
    if hook in _hooks:
        _hooks.remove(hook)


def rerank_hooks() -> list[RerankHook]:
    return list(_hooks)
