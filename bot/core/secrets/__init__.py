"""Secrets in a diff: found (detect-secrets plus rules for what it misses), redacted before a model
sees them, and reported."""
