"""Products against the stream: matching, ranking, the content window, evaluation."""
