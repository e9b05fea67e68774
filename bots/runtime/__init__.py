"""The runtime every feature relies on: config, router, command registry, built-in commands, the brain's worker thread, counters, metrics, redaction, the package guard."""
