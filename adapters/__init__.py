"""Platform adapters: translate platform payloads to `adapters.model` events and replies back.

Nothing in this package imports the brain or the runtime.
"""
