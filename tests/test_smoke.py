from .conftest import assert_envelope


def test_health(client):
    body = client.get("/api/health").get_json()
    assert body["success"] is True and body["message"] == "API is running"


def test_register_login_profile(api):
    r = api.post("/api/auth/register", json={"email": "New@Example.com ", "password": "secret1", "name": "New User"})
    body = assert_envelope(r, 201, "User registered successfully")
    assert body["data"]["user"]["email"] == "new@example.com"
    r = api.post("/api/auth/login", json={"email": "new@example.com", "password": "secret1"})
    body = assert_envelope(r, 200, "Login successful")
    r = api.get("/api/auth/profile", token=body["data"]["accessToken"])
    assert_envelope(r, 200, "Profile retrieved successfully")
