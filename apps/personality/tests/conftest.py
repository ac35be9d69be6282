"""Fixtures of the personality tests: the shared language-model fixtures (apps/conversations/tests/fixtures.py)."""

from apps.conversations.tests.fixtures import llm, offline  # noqa: F401 (fixtures)
