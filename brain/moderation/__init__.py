"""Moderation: review decisions and curated answers."""
