"""Features: thin listeners and commands that hand events to the brain and post what comes out. They never import each other."""
