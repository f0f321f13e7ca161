"""The adapters: each effect behind a narrow interface (GitHub, the models, the ledger, the
job queue)."""
