"""The dashboard: a web page, a JSON API and Prometheus metrics (server.py)."""
