"""After the stream: sessions, the host profile, answer quality, the interaction log and the report."""
