"""The audience graph, its communities, reach and export."""
