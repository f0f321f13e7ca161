"""Model backends: the protocol (base), the frontier API (anthropic) and the local GPU model
(exllama). Import the implementations from their modules; nothing heavy is imported here."""
