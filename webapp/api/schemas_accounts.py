"""Request schemas of the accounts routes, with the original's exact messages."""
from __future__ import annotations

from ..accounts.passwords import MAX_PASSWORD_BYTES
from .validation import Boolean, Enum, Integer, Schema, String

PHONE_PATTERN = r"^(\+62|62|0)8[1-9][0-9]{6,9}$"
PHONE_MESSAGE = "Phone number must be a valid Indonesian phone number"

EMAIL_MESSAGES = {"string.base": "Email must be a string", "string.email": "Email must be a valid email",
                  "any.required": "Email is required"}
NAME_MESSAGES = {"string.base": "Name must be a string", "string.min": "Name must be at least 2 characters long",
                 "string.max": "Name must not exceed 50 characters", "any.required": "Name is required"}


class RegisterBody(Schema):
    email: String(email=True, trim=True, max_length=254)
    password: String(min_length=6, max_length=72, max_bytes=MAX_PASSWORD_BYTES)
    name: String(2, 50, trim=True)
    phone: String(pattern=PHONE_PATTERN, trim=True) = None
    role: Enum("USER", "ADMINISTRATOR") = None  # accepted for old clients, ignored
    avatar: String(uri=True, max_length=2048) = None

    messages = {
        "email": EMAIL_MESSAGES,
        "password": {"string.base": "Password must be a string", "string.min": "Password must be at least 6 characters",
                     "string.max": "Password must not exceed 72 characters", "any.required": "Password is required"},
        "name": NAME_MESSAGES,
        "phone": {"string.pattern.base": PHONE_MESSAGE},
        "avatar": {"string.uri": "Avatar must be a valid URL"},
    }


class LoginBody(Schema):
    email: String(email=True, trim=True, max_length=254)
    password: String(max_length=1024)

    messages = {
        "email": EMAIL_MESSAGES,
        "password": {"string.base": "Password must be a string", "any.required": "Password is required"},
    }


class RefreshBody(Schema):
    refreshToken: String(max_length=200)

    messages = {"refreshToken": {"string.base": "Refresh token must be a string",
                                 "any.required": "Refresh token is required"}}


class LogoutBody(Schema):
    refreshToken: String(max_length=200) = None

    messages = {"refreshToken": {"string.base": "Refresh token must be a string"}}


class GoogleTokenBody(Schema):
    idToken: String(max_length=8192)

    messages = {"idToken": {"string.base": "ID token must be a string", "any.required": "Google ID token is required"}}


class ProfileUpdateBody(Schema):
    name: String(2, 50, trim=True) = None
    phone: String(pattern=PHONE_PATTERN, trim=True, nullable=True) = None
    avatar: String(uri=True, trim=True, max_length=2048, nullable=True) = None

    messages = {
        "name": {"string.base": "Name must be a string", "string.min": "Name must be at least 2 characters long",
                 "string.max": "Name must not exceed 50 characters"},
        "phone": {"string.base": "Phone must be a string", "string.pattern.base": PHONE_MESSAGE},
        "avatar": {"string.base": "Avatar must be a string", "string.uri": "Avatar must be a valid URL"},
    }


class AvatarBody(Schema):
    avatar: String(uri=True, trim=True, max_length=2048)

    messages = {"avatar": {"string.base": "Avatar must be a string", "string.uri": "Avatar must be a valid URL",
                           "any.required": "Avatar is required"}}


class PasswordChangeBody(Schema):
    currentPassword: String(max_length=1024) = None
    newPassword: String(min_length=6, max_length=72, max_bytes=MAX_PASSWORD_BYTES)

    messages = {
        "currentPassword": {"string.base": "Current password must be a string"},
        "newPassword": {"string.base": "New password must be a string",
                        "string.min": "New password must be at least 6 characters",
                        "string.max": "New password must not exceed 72 characters",
                        "any.required": "New password is required"},
    }


class ForgotPasswordBody(Schema):
    email: String(email=True, trim=True, max_length=254)

    messages = {"email": EMAIL_MESSAGES}


class ResetPasswordBody(Schema):
    token: String(max_length=128)
    password: String(min_length=6, max_length=72, max_bytes=MAX_PASSWORD_BYTES)

    messages = {
        "token": {"string.base": "Token must be a string", "string.empty": "Token is required",
                  "string.max": "This password reset link is invalid. Please request a new one.",
                  "any.required": "Token is required"},
        "password": {"string.base": "Password must be a string", "string.min": "Password must be at least 6 characters",
                     "string.max": "Password must not exceed 72 characters", "any.required": "Password is required"},
    }


# ------------------------------------------------------------------------------------ admin users
class AdminUserId(Schema):
    id: String(max_length=100)

    messages = {"id": {"any.required": "User ID is required", "string.empty": "User ID is required"}}


class AdminCreateUserBody(Schema):
    name: String(2, 50, trim=True)
    email: String(email=True, trim=True, max_length=254)
    phone: String(pattern=PHONE_PATTERN, trim=True) = None
    password: String(min_length=6, max_length=72, max_bytes=MAX_PASSWORD_BYTES)
    role: Enum("USER", "ADMINISTRATOR") = "USER"
    avatar: String(uri=True, trim=True, max_length=2048) = None

    messages = {
        "name": {"string.min": "Name must be at least 2 characters long",
                 "string.max": "Name must not exceed 50 characters", "any.required": "Name is required"},
        "email": {"string.email": "Email must be a valid email address", "any.required": "Email is required"},
        "phone": {"string.pattern.base": PHONE_MESSAGE},
        "password": {"string.min": "Password must be at least 6 characters long",
                     "string.max": "Password must not exceed 72 characters", "any.required": "Password is required"},
        "avatar": {"string.uri": "Avatar must be a valid URL"},
    }


class AdminUpdateUserBody(Schema):
    name: String(2, 50, trim=True) = None
    phone: String(pattern=PHONE_PATTERN, trim=True, nullable=True) = None
    role: Enum("USER", "ADMINISTRATOR") = None
    avatar: String(uri=True, trim=True, max_length=2048, nullable=True) = None

    messages = {
        "name": {"string.min": "Name must be at least 2 characters long",
                 "string.max": "Name must not exceed 50 characters"},
        "phone": {"string.pattern.base": PHONE_MESSAGE},
        "avatar": {"string.uri": "Avatar must be a valid URL"},
    }


class AdminUserListQuery(Schema):
    page: Integer(1) = 1
    limit: Integer(1, 100) = 10
    search: String(allow_empty=True, max_length=100) = None
    role: Enum("USER", "ADMINISTRATOR") = None
    isActive: Boolean = None


class AdminUserStatusBody(Schema):
    isActive: Boolean

    messages = {"isActive": {"boolean.base": "isActive must be a boolean value", "any.required": "isActive is required"}}
