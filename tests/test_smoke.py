"""The application starts and answers on both engines."""

from fastapi.testclient import TestClient


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["database"] in ("sqlite", "postgresql")
