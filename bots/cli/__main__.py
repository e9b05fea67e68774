"""``python -m bots.cli``: the same as the ``liveroom`` script."""
from bots.cli.main import main

main()
