"""The recommendation engine.

Pure parts (numpy/scipy, no Django): `data` (interaction events -> matrices), `fit` (ALS,
co-occurrence, popularity, user profiles), `blend` (score normalisation, weighted blending, MMR),
`metrics` (temporal hold-out, precision/recall/nDCG/coverage), `offline` (all sources scored in
memory: learns the blend weights on a validation split and powers `evaluate_recommendations`).

Serving parts (PostgreSQL/pgvector/Redis): `sources` (one function per candidate source; the
knowledge-graph source reads apps.graph.queries through the cache), `ranking` (rules, filters,
difficulty fit, hooks, diversity, reasons), `cache` (per-user list cache and graph candidates),
`hooks` (re-ranking hooks; apps.personality registers its personality fit from its AppConfig).
Django admin of the engine's models: `admin`.
"""
