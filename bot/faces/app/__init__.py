"""The GitHub App face: the webhook server, events into jobs, and the workers that run them."""
