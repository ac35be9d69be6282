"""Recommendation engine models (RecommendationLog, factors)."""

__all__: list[str] = []
