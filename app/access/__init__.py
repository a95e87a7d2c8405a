"""Who may do what: client keys resolved to a principal (``keys``, ``db_keys``), the pure policy
check (``policy``, ``demand``), admission before any upstream work (``admission``: limits,
counters, the budget hold) and the settlement the record stage drives (``settlement``)."""
