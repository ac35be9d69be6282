"""Knowledge-base writes, one module per subdomain (imported from the module itself, nothing is
re-exported here, so `grep` finds each name's home in one hop):

- `upload`: uploads (de-duplication, versions, plan limits), text documents, deletion, reprocess,
  and the hand-off to the pipeline after commit (`document_pipeline_enqueue`);
- `pipeline`: the ingestion stages (extract + chunk, embed, finalize), failure, `document_ingest_now`;
- `embeddings`: the HNSW index of each embedding model, chunk vectors, re-embedding;
- `recovery`: the stage lease (`document_stage_claim`) and the sweep of stuck documents.

The bot's term statistics (BM25) are kept by `apps/documents/lexeme_stats.py`, called by `upload`
(deletion) and `pipeline` (finalize) in their transactions.
"""
