"""The recommendation engine.

Pure parts (numpy/scipy, no Django): `data` (interaction events -> matrices), `fit` (ALS,
co-occurrence, popularity, user profiles), `blend` (score normalisation, weighted blending, MMR),
`metrics` (temporal hold-out, precision/recall/nDCG/coverage), `offline` (all sources scored in
memory: learns the blend weights on a validation split and powers `evaluate_recommendations`).

Serving parts (PostgreSQL/pgvector/Redis): `sources` (one function per candidate source),
`rerank` (rules, filters, diversity), `reasons`, `cache`, `hooks` (re-ranking hooks, e.g. the
personality fit of issue 8).
"""
