"""Everything that thinks and remembers, and nothing that knows a platform.

Depends on ``adapters.model`` at most.
"""
