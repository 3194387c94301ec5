"""Failures of the payments domain (top-ups, status polling, cancel), with the original API's messages."""
from ..errors import DomainError


class TransactionNotFound(DomainError):
    status, message = 404, "Transaction not found"


class CanOnlyCancelPending(DomainError):
    status, message = 400, "Can only cancel pending transactions"


class TopUpAmountTooLow(DomainError):
    status, message = 400, "Minimum top-up amount is Rp 10,000"


class TopUpAmountTooHigh(DomainError):
    status, message = 400, "Maximum top-up amount is Rp 10,000,000"


class InvalidPaymentMethod(DomainError):
    status, message = 400, "Payment method must be one of: BANK_TRANSFER, E_WALLET, CREDIT_CARD, QRIS"
