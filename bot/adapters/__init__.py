"""The adapters: each effect (GitHub, the model APIs, the ledger, the queue) behind a narrow
interface."""
