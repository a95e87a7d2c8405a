"""The gateway's database: keys and teams, budgets, the usage ledger, the image index, async
jobs and idempotency results, in SQLite (the default, one file under ``data/``) or PostgreSQL.

- ``engine``: an ``AsyncEngine`` from the URL users write (``postgresql://``, ``sqlite:///``).
- ``models``: the schema as typed declarative models; ``migrations``: Alembic, inside the
  package; ``migrate``: ``upgrade(url)``, safe when several processes start at once.
- ``money``: integer nano-dollars, the one money representation; ``budgets``: the reservation
  primitive that never overspends under concurrency.

Nothing here imports the HTTP edge or the request pipeline; they will import this.
"""
