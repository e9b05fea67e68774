"""The ``liveroom`` command line: one module a command group, composed in ``bots.cli.main``.

``python -m bots.cli`` runs it (``__main__.py``); the ``liveroom`` script calls ``bots.cli.main:main``.
"""
