"""Everything that thinks and remembers, and nothing that knows a platform.

One folder a concern: ``text`` (tokens, questions, similarity, safety), ``store``
(events, schema, retention), ``retrieval``, ``knowledge``, ``answers`` (the answer
pipeline), ``products``, ``chat`` (classification, sentiment), ``audience``,
``traffic``, ``moderation``, ``insights`` (sessions, profile, quality, report).
Depends on ``adapters.model`` at most; ``tests/test_architecture.py`` holds it to that.
"""
