"""Where events are kept: the Store, its schema and migrations, retention, the question rows."""
