"""Password hashing with bcrypt (cost 12 by default; hashes from the original's bcryptjs verify too)."""
from __future__ import annotations

import bcrypt

MAX_PASSWORD_BYTES = 72  # bcrypt ignores everything after 72 bytes; longer passwords are refused at input

# Compared against when the email is unknown or the account has no password, so that a login
# takes the same time whether or not the account exists.
_DUMMY_HASH = bcrypt.hashpw(b"poddesk-timing-equaliser", bcrypt.gensalt(rounds=12))


def hash_password(password: str, rounds: int = 12) -> str:
    encoded = password.encode("utf-8")
    if len(encoded) > MAX_PASSWORD_BYTES:
        # Input schemas refuse these first; this keeps every other caller (forms, CLI) from a bcrypt ValueError.
        from .errors import PasswordTooLong

        raise PasswordTooLong()
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=rounds)).decode("ascii")


def verify_password(password: str, password_hash: str | None) -> bool:
    candidate = password.encode("utf-8")[:MAX_PASSWORD_BYTES]
    if not password_hash:
        bcrypt.checkpw(candidate, _DUMMY_HASH)
        return False
    stored = password_hash.encode("ascii")
    if stored.startswith(b"$2y$"):  # PHP-style prefix, same algorithm
        stored = b"$2b$" + stored[4:]
    try:
        return bcrypt.checkpw(candidate, stored)
    except ValueError:
        return False


def burn_time(password: str) -> None:
    """Spend one bcrypt comparison for an unknown account."""
    verify_password(password, None)
