"""Every error message kirby-1x.md documents, REST and /ws, in 1.x's words (the codes already match).

Deliberate differences, where API.md overrules 1.x, are not rows here: validation errors are 400 (not
422) and name the parameter after 1.x's "Validation error"; a JSON value that is not an object is
``invalid_json`` (1.x answered ``internal_error``); /ws validation messages are one line; a refused
/ws handshake closes with a 4xxx code and API.md's reason (1.x's reasons never reached its clients:
Uvicorn turned them into an HTTP 403); a second user with an email already registered is not refused
(1.x's "Email already registered": Kirby's users are their usernames, as Django's are).
"""

import asyncio
import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import get_resolver
from django.utils import timezone

from apps.access.models import ApiKey
from apps.markets.models import Coin
from apps.streaming import hub as hub_module
from tests.conftest import keyed_client, make_key
from tests.streaming.conftest import Connection

CANDLES = "/candles/hyperliquid/{coin}/USD/perps/{interval}"
FUNDING = "/funding/hyperliquid/{coin}/USD/perps"
OPEN_INTEREST = "/open-interest/hyperliquid/{coin}/USD/perps"

# (who asks, method, path, body) -> (status, 1.x's detail). Who: a key role the test creates.
REST = [
    (("nobody", "get", CANDLES.format(coin="BTC", interval="1m"), None),
     (401, "API key required. Provide via Authorization: Bearer <key>")),
    (("unknown", "get", CANDLES.format(coin="BTC", interval="1m"), None), (401, "Invalid API key")),
    (("inactive", "get", CANDLES.format(coin="BTC", interval="1m"), None), (401, "API key is inactive")),
    (("expired", "get", CANDLES.format(coin="BTC", interval="1m"), None), (401, "API key has expired")),
    (("inactive owner", "get", CANDLES.format(coin="BTC", interval="1m"), None), (403, "User account is inactive")),
    (("reader", "get", "/admin/users", None), (403, "Admin privileges required")),
    (("reader", "get", "/no/such/path", None), (404, "Not Found")),
    (("reader", "post", CANDLES.format(coin="BTC", interval="1m"), {}), (405, "Method Not Allowed")),
    (("reader", "get", "/starlistings/987654", None), (404, "Starlisting with ID 987654 not found")),
    (("reader", "get", CANDLES.format(coin="xyz", interval="1m"), None),
     (404, "Starlisting not found: hyperliquid/xyz/USD/perps/1m")),
    (("reader", "get", CANDLES.format(coin="SOL", interval="1h"), None),
     (400, "Starlisting is not active: hyperliquid/SOL/USD/perps/1h")),
    (("reader", "get", FUNDING.format(coin="xyz"), None), (404, "Trading pair not found: hyperliquid/xyz/USD/perps")),
    (("reader", "get", FUNDING.format(coin="ETH"), None),
     (400, "Trading pair is not active: hyperliquid/ETH/USD/perps")),
    (("reader", "get", OPEN_INTEREST.format(coin="xyz"), None),
     (404, "Trading pair not found: hyperliquid/xyz/USD/perps")),
    (("reader", "get", OPEN_INTEREST.format(coin="ETH"), None),
     (400, "Trading pair is not active: hyperliquid/ETH/USD/perps")),
    (("admin", "post", "/admin/users", {"username": "ada", "email": "new@example.com"}),
     (400, "Username already taken")),
    (("admin", "get", "/admin/users/987654", None), (404, "User not found")),
    (("admin", "get", "/admin/users/987654/keys", None), (404, "User not found")),
    (("admin", "post", "/admin/users/987654/keys", {}), (404, "User not found")),
    (("admin", "delete", "/admin/keys/987654", None), (404, "API key not found")),
]  # fmt: skip

# What a 1.x client sends on /ws -> (code, 1.x's message, exactly or as the start of Kirby's).
WS = [
    ("{not json", ("invalid_json", "Invalid JSON")),
    ({"action": "subscribe_all"}, ("unknown_action", "Unknown action: subscribe_all")),
    ({"starlisting_ids": [1]}, ("unknown_action", "Unknown action: None")),
    ({"action": "subscribe", "starlisting_ids": [-1]},
     ("validation_error", "All starlisting IDs must be positive integers")),
    ({"action": "subscribe", "starlisting_ids": [987654, 987655]},
     ("invalid_starlisting", "Invalid or inactive starlisting IDs: [987654, 987655]")),
]  # fmt: skip


def _keys():
    User = get_user_model()
    User.objects.create_user("ada", email="ada@example.com")
    expired = make_key("late", expires_at=timezone.now() - timedelta(days=1))
    inactive = make_key("idle")
    ApiKey.objects.filter(owner__username="idle").update(active=False)
    owner_inactive = make_key("gone")
    User.objects.filter(username="gone").update(is_active=False)
    return {
        "nobody": None,
        "unknown": "kb_" + "0" * 40,
        "inactive": inactive,
        "expired": expired,
        "inactive owner": owner_inactive,
        "reader": make_key("reader"),
        "admin": make_key("operator", scopes=["read", "admin"]),
    }


def test_rest_errors_keep_1xs_words(world):
    world.starlisting(world.sol_pair, "1h", active=False)
    eth = world.pair(Coin.objects.create(symbol="ETH", name="Ether"), active=False)
    world.starlisting(eth, "1m", active=False)
    keys = _keys()
    differences = []
    for (who, method, path, body), (status, detail) in REST:
        client = keyed_client(keys[who]) if keys[who] else Client()
        options = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
        response = getattr(client, method)(path, **options)
        got = (response.status_code, response.json().get("detail"))
        if got != (status, detail):
            differences.append(f"{method.upper()} {path} as {who}: 1.x {(status, detail)}, Kirby {got}")
    assert differences == []


def test_an_unhandled_error_says_internal_server_error_as_1x_did():
    handler = get_resolver().resolve_error_handler(500)
    response = handler(RequestFactory().get("/candles/hyperliquid/BTC/USD/perps/1m"))
    assert (response.status_code, json.loads(response.content)["detail"]) == (500, "Internal server error")


@pytest.fixture
def ws_key(transactional_db, django_db_serialized_rollback):
    return make_key()  # committed: /ws looks keys up from worker threads


@pytest.mark.asyncio
async def test_websocket_errors_keep_1xs_words(ws_key):
    connection = await Connection(f"/ws?api_key={ws_key}").open()
    differences = []
    try:
        for message, (code, words) in WS:
            await connection.send(message)
            reply = await connection.receive()
            if reply.get("code") != code or not reply.get("message", "").startswith(words):
                differences.append(f"{message}: 1.x {code} {words!r}, Kirby {reply}")
    finally:
        await connection.close()
        leftover = hub_module._hubs.get(asyncio.get_running_loop())
        if leftover is not None:
            await leftover.stop()
    assert differences == []
