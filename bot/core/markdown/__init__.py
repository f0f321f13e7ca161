"""Markdown the bot writes: user and model text made safe, and every body checked as GitHub renders
it."""
