"""The runtime and the features: wiring (``app.py``), ``runtime/`` (config, router, commands,
the brain's worker thread), ``features/`` (thin listeners that call the brain), ``cli/`` and
``dashboard/``.

Depends on ``adapters`` and ``brain``; neither depends on it (``tests/test_architecture.py``).
"""
