"""Kirby 1.x's wire shapes that its clients rely on (kirby-1x.md §2): CORS, /openapi.json, GET /, epoch times."""

from datetime import timedelta

from tests.conftest import candle, utc

CANDLES = "/candles/hyperliquid/BTC/USD/perps/1m"


def test_a_browser_on_1xs_default_origins_may_call_the_api_and_preflights_need_no_key(client, anonymous, world):
    preflight = anonymous.options(
        CANDLES, headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET",
                          "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert preflight["Access-Control-Allow-Credentials"] == "true"
    assert "authorization" in preflight["Access-Control-Allow-Headers"].lower()

    answered = client.get(CANDLES, headers={"Origin": "http://localhost:8080"})
    assert answered.status_code == 200 and answered["Access-Control-Allow-Origin"] == "http://localhost:8080"
    assert "Access-Control-Allow-Origin" not in client.get(CANDLES, headers={"Origin": "https://evil.example"})


def test_the_schema_is_also_at_openapi_json_and_the_root_keeps_1xs_fields(anonymous, db):
    schema = anonymous.get("/openapi.json")
    assert schema.status_code == 200 and schema["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert schema.json()["openapi"].startswith("3.") and CANDLES.rsplit("/", 5)[0] + "/{exchange}" in str(
        schema.json()["paths"]
    )

    root = anonymous.get("/").json()
    for field in ("name", "version", "description", "environment", "endpoints", "features", "documentation"):
        assert field in root, field
    assert root["endpoints"]["rest_api"] == "/docs" and root["endpoints"]["health"] == "/health"
    assert root["endpoints"]["websocket"] == "/ws?api_key=YOUR_API_KEY"
    assert root["documentation"]["swagger"] == "/docs" and root["documentation"]["redoc"] == "/redoc"
    assert root["environment"] in ("development", "production") and isinstance(root["features"], list)


def test_times_may_be_fractional_epoch_seconds_or_milliseconds_as_1x_took_them(client, world):
    from apps.marketdata.writer import write_candles

    start = utc(2025, 11, 17, 22, 0)
    write_candles([candle(world.btc_1m, start + timedelta(minutes=i)) for i in range(5)], publish=False)
    epoch = start.timestamp()

    seconds = client.get(CANDLES, {"start_time": f"{epoch + 60.5}", "end_time": f"{epoch + 180}"}).json()
    assert [c["time"] for c in seconds["data"]] == ["2025-11-17T22:02:00Z"]
    millis = client.get(CANDLES, {"start_time": f"{(epoch + 120) * 1000:.1f}"}).json()
    assert len(millis["data"]) == 3
    bad = client.get(CANDLES, {"start_time": "1700000000.5.5"})
    assert bad.status_code == 400 and "start_time" in str(bad.json())
