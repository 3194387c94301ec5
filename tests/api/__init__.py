"""API tests: one module per area of the JSON API; shared response shapes below."""

USER_BASIC = {"id", "name", "email", "phone", "role", "avatar", "isActive", "createdAt", "updatedAt"}
USER_GOOGLE_EXISTING = USER_BASIC | {"isGoogleUser", "emailVerified"}
USER_FULL = USER_GOOGLE_EXISTING | {"creditBalance", "totalTopUp", "totalSpent"}
USER_NO_PASSWORD = USER_FULL | {"googleId"}
ADMIN_USER_ROW = (USER_BASIC | {"creditBalance", "totalTopUp", "totalSpent", "_count"})

PASSWORD = "password123"

