"""The review: prompts within a token budget, the answer schema, and comments anchored to the
diff. Pure code: no I/O."""
