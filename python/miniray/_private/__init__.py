"""miniray's implementation. Nothing here is public API."""
