"""The pure core: no I/O, no asyncio, no HTTP (``tests/unit/test_architecture.py``)."""
