"""The lexical candidate queries of chunk_search on a bot whose questions use common words (drill D: a question
of seven common words matched 66,000 of a bot's 150,000 chunks, each ranked, 5.5 s).

Coverage:
- a small bot keeps every pair of the question's rarest terms (unchanged behaviour);
- with a budget, groups are kept cheapest first (estimated from the bot's document frequencies): the pair of
  the two common terms, which matches every chunk, is left out; the rare pair stays;
- when even the cheapest pair is over the budget, triples take the pairs' place;
- the fallback of single terms keeps the rarest term and drops the common ones past the budget;
- the search still finds the chunk that holds the rare terms first.
"""

import pytest
from django.contrib.postgres.search import SearchVector
from django.db import transaction

from apps.bots.tests.factories import BotFactory
from apps.documents.lexeme_stats import lexeme_stats_rebuild
from apps.documents.models import Chunk
from apps.documents.selectors import chunk_search, chunk_search_term_queries
from apps.documents.services.upload import document_create_from_text
from apps.documents.tests.factories import DocumentFactory
from apps.documents.tests.utils import ingest

COMMON = "The warehouse parcel is labelled."
RARE = "The zebra mascot greets visitors."


@pytest.fixture
def bot(organization):
    return BotFactory(organization=organization, min_score=0.0, dense_weight=0.5)


def searchable_chunks(bot, texts):
    """Searchable chunks of one document with `texts`, indexed as the pipeline does, and exact statistics."""
    document = DocumentFactory(bot=bot, status="ready")
    Chunk.objects.bulk_create(
        Chunk(
            organization=bot.organization,
            bot=bot,
            document=document,
            position=position,
            text=text,
            content_hash=str(position),
            search_config="english",
            searchable=True,
        )
        for position, text in enumerate(texts)
    )
    Chunk.objects.filter(document=document).update(search_vector=SearchVector("text", config="english"))
    with transaction.atomic():
        lexeme_stats_rebuild(bot_id=bot.pk)


def groups(bot, query):
    return chunk_search_term_queries(bot=bot, query=query)["english"]


@pytest.mark.django_db
def test_a_small_bot_keeps_every_pair(bot):
    """Under the budget, the candidate query is every pair of the terms, as before."""
    searchable_chunks(bot, [COMMON] * 6 + [f"{COMMON} {RARE}"])
    term_groups, fallback = groups(bot, "warehouse parcel zebra mascot")
    assert term_groups.count("&") == 6  # 4 terms: 6 pairs
    assert "'warehous' & 'parcel'" in term_groups or "'parcel' & 'warehous'" in term_groups
    assert fallback.count("|") == 3  # all 4 terms


@pytest.mark.django_db
def test_over_the_budget_the_pair_of_common_terms_is_left_out(bot, settings):
    """Groups are kept cheapest first: zebra & mascot (1 chunk) stays, warehouse & parcel (every chunk) goes."""
    settings.SEARCH_LEXICAL_BUDGET = 3
    searchable_chunks(bot, [COMMON] * 6 + [f"{COMMON} {RARE}"])
    term_groups, fallback = groups(bot, "warehouse parcel zebra mascot")
    assert "'mascot' & 'zebra'" in term_groups or "'zebra' & 'mascot'" in term_groups
    assert "'warehous' & 'parcel'" not in term_groups and "'parcel' & 'warehous'" not in term_groups
    # single terms: the two rare ones (1 chunk each), then one common one (7 chunks), past the budget
    assert "zebra" in fallback and "mascot" in fallback
    assert ("warehous" in fallback) != ("parcel" in fallback)


@pytest.mark.django_db
def test_when_every_pair_is_over_the_budget_triples_take_their_place(bot, settings):
    """Three terms held by every chunk: no pair fits, so the query is their triple."""
    settings.SEARCH_LEXICAL_BUDGET = 3
    searchable_chunks(bot, ["The warehouse parcel robot is labelled."] * 8)
    term_groups, _fallback = groups(bot, "warehouse parcel robot")
    assert term_groups.count("&") == 2 and "|" not in term_groups


@pytest.mark.django_db
def test_the_search_still_finds_the_rare_terms_first(organization, bot, settings):
    """With the budget, the passage holding the rare terms is the best hit."""
    settings.SEARCH_LEXICAL_BUDGET = 3
    for n in range(4):
        document, _ = document_create_from_text(
            organization=organization, bot=bot, title=f"Warehouse {n}", text=f"{COMMON} Shelf number {n}."
        )
        ingest(document)
    document, _ = document_create_from_text(organization=organization, bot=bot, title="Mascot", text=f"{COMMON} {RARE}")
    ingest(document)
    hits = chunk_search(organization=organization, bot=bot, query="warehouse parcel zebra mascot", min_score=0)
    assert hits[0].document_id == document.pk
    assert hits[0].lexical > max(hit.lexical for hit in hits[1:])
