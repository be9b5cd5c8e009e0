"""Domain errors. They carry an HTTP status only as data; the domain imports no web code."""

from app.errors import AppError, Conflict, NotFound, ValidationFailed


class InvalidPosting(ValidationFailed):
    code = "invalid_posting"


class InsufficientPoints(ValidationFailed):
    code = "insufficient_points"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class PendingAlreadyResolved(Conflict):
    code = "pending_already_resolved"


class CustomerNotFound(NotFound):
    code = "customer_not_found"


class LedgerViolation(AppError):
    """An invariant of the ledger does not hold (see `app.loyalty.checks`)."""

    code = "ledger_violation"
    status = 500
