"""Logs (with the request id) now; metrics and traces join here."""
