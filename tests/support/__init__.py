"""What tests share, so that test modules never import from each other.

- ``upstream``: the strict loopback fake upstream (routes, scripted SSE, gates).
- ``config``: the test gateway config (``base_config``, ``write_config``, ``UPSTREAM``...).
- ``app``: ``serve_in_process`` and the lifespan-state shim for ``httpx.ASGITransport``.
- ``images``: ``png_bytes``, ``mask_png``, ``data_uri``, ``input_image``.
- ``rules``: the shipped ``RULES`` and ``job()`` (a normalized job).
- ``gateway``: a real ``imagegate serve`` process, ``sdk()``, ``wait_until()``.
- ``multipart``: reading back a multipart body.
"""
