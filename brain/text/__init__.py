"""Text every concern reads: language detection and tokenising, questions, near-duplicate similarity, safety."""
