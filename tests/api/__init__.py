"""API tests: one module per area of the JSON API; shared response shapes below."""

USER_BASIC = {"id", "name", "email", "phone", "role", "avatar", "isActive", "createdAt", "updatedAt"}
USER_GOOGLE_EXISTING = USER_BASIC | {"isGoogleUser", "emailVerified"}
USER_FULL = USER_GOOGLE_EXISTING | {"creditBalance", "totalTopUp", "totalSpent"}
USER_NO_PASSWORD = USER_FULL | {"googleId"}
ADMIN_USER_ROW = (USER_BASIC | {"creditBalance", "totalTopUp", "totalSpent", "_count"})

PASSWORD = "password123"


# The conftest's users live under ".test", a special-use domain the login schema rejects (as Joi's
# TLD check did). API modules that log these users in import these overrides instead.
import pytest  # noqa: E402


@pytest.fixture
def admin(make):
    return make.user(email="boss@poddesk.example.com", role="ADMINISTRATOR", name="Boss Admin")


@pytest.fixture
def customer(make):
    return make.user(email="cust@poddesk.example.com", name="Cust Omer")


@pytest.fixture
def other_customer(make):
    return make.user(email="other@poddesk.example.com", name="Other Person")
