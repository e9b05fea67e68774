"""The answer pipeline: bursts, curated answers, retrieval, the extractive or LLM answer, the fact check."""
