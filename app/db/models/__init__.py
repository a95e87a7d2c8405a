"""The schema, as SQLAlchemy 2 typed declarative models. ``Base.metadata`` is what the
migrations must match (``tests/db/test_migrations.py`` checks it)."""

from app.db.models.access import ApiKey, Team
from app.db.models.base import BUDGET_PERIODS, Base
from app.db.models.budget import BudgetHold, BudgetHoldPart, BudgetSpend
from app.db.models.images import ImageRecord, ReplicaLease
from app.db.models.ledger import UsageRecord
from app.db.models.state import AsyncJob, IdempotencyResult

__all__ = [
    "BUDGET_PERIODS",
    "ApiKey",
    "AsyncJob",
    "Base",
    "BudgetHold",
    "BudgetHoldPart",
    "BudgetSpend",
    "IdempotencyResult",
    "ImageRecord",
    "ReplicaLease",
    "Team",
    "UsageRecord",
]
