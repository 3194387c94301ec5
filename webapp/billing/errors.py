"""Failures of the money domain (ledger, wallet)."""
from ..errors import DomainError


class InsufficientCredit(DomainError):
    status, message = 400, "Insufficient credit. Balance: {balance}, Required: {required}"


class InvalidAmount(DomainError):
    status, message = 400, "Amount must be a positive whole number of IDR"


class IdempotencyKeyReused(DomainError):
    status, message = 409, "Idempotency-Key was already used for a different request"
