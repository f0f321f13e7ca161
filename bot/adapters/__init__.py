"""The adapters: each effect (GitHub, the models, the ledger, the queue) behind a narrow interface.

They import the core (bot.core) for its types; the core imports none of them.
"""
