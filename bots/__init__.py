"""The runtime: config, commands, routing, wiring and the ``liveroom`` CLI.

Depends on ``adapters`` and ``brain``; neither depends on it.
"""
