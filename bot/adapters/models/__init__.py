"""Model backends: the frontier API (anthropic) and the local GPU model (exllama), each
implementing bot.core.types.Backend. Import the implementations from their modules; nothing heavy
is imported here."""
