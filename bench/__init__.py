"""Imagegate's benchmark: a fast mock upstream, a load generator, and the scenarios of issue 7.

Run it with ``make bench`` (or ``.venv/bin/python -m bench --help``).
"""
