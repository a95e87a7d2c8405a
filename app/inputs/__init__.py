"""Untrusted edit inputs: loading, sniffing and checking image bytes, safe URL fetching,
and the request spool that keeps uploads off the heap."""
