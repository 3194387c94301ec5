"""Failures of the accounts domain (authentication, tokens, profiles, user administration, Google)."""
from ..errors import DomainError


class AccessTokenRequired(DomainError):
    status, message = 401, "Access token is required"


class InvalidAccessToken(DomainError):
    status, message = 403, "Invalid or expired token"


class InsufficientPermissions(DomainError):
    status, message = 403, "Access denied. Insufficient permissions."


class AccountDeactivated(DomainError):
    status, message = 403, "Account is deactivated. Please contact administrator."


class InvalidCredentials(DomainError):
    status, message = 401, "Invalid email or password"


class EmailTaken(DomainError):
    status, message = 409, "User with this email already exists"


class PhoneTaken(DomainError):
    status, message = 409, "Phone number is already in use"


class UserNotFound(DomainError):
    status, message = 404, "User not found"


class InvalidRefreshToken(DomainError):
    status, message = 401, "Invalid refresh token"


class RefreshTokenExpired(DomainError):
    status, message = 401, "Refresh token expired"


class WrongCurrentPassword(DomainError):
    status, message = 400, "Current password is incorrect"


class CurrentPasswordRequired(DomainError):
    status, message = 400, "Current password is required"


class SelfModificationForbidden(DomainError):
    status, message = 400, "You cannot change your own role or status"


class SelfDeletionForbidden(DomainError):
    status, message = 400, "You cannot delete your own account"


class LastAdministrator(DomainError):
    status, message = 400, "At least one active administrator must remain"


class UserHasActiveSubscriptions(DomainError):
    status, message = 409, "User has active subscriptions"


# Password reset (accounts.password_reset). One class per failure; the link's holder learns which one.
class InvalidPasswordResetToken(DomainError):
    status, message = 400, "This password reset link is invalid. Please request a new one."


class PasswordResetTokenExpired(DomainError):
    status, message = 400, "This password reset link has expired. Please request a new one."


class PasswordResetTokenUsed(DomainError):
    status, message = 400, "This password reset link has already been used. Please request a new one."


class InvalidNewPassword(DomainError):
    status, message = 400, "Password must be 6 to 72 characters"


class PasswordResetNotConfigured(DomainError):
    status, message = 503, "Password reset is not configured"


# Google sign-in. AU4/AU9 render these in the "Google envelope" ({success, error}); AU8 in the standard one.
class GoogleNotConfigured(DomainError):
    status, message = 503, "Google OAuth is not configured"


class InvalidGoogleToken(DomainError):
    status, message = 401, "Invalid Google token"


class GoogleAccountDeactivated(DomainError):
    status, message = 401, "Account is deactivated. Please contact administrator."


class GoogleEmailUnverified(DomainError):
    status, message = 409, "Email already registered; log in and link your Google account"


class GoogleLinkInvalidToken(DomainError):
    status, message = 400, "Invalid Google token"


class GoogleAccountLinkedElsewhere(DomainError):
    status, message = 400, "This Google account is already linked to another user"


class GoogleLinkUserNotFound(DomainError):
    status, message = 400, "User not found"


class GoogleEmailMismatch(DomainError):
    status, message = 400, "Google account email does not match your account email"


class GoogleNotLinked(DomainError):
    status, message = 400, "No Google account linked to this user"


class GoogleUnlinkNeedsPassword(DomainError):
    status, message = 400, "Cannot unlink Google account. Please set a password first to maintain account access."


class PasswordTooLong(DomainError):
    """bcrypt reads 72 bytes at most: a longer password (multi-byte characters count per byte) is refused."""

    status, message = 400, "Password must not exceed 72 characters"
