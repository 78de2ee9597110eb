"""/ws refuses with a 4xxx close code and API.md's words; a key revoked meanwhile is disconnected."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.access.models import ApiKey, ApiKeyUsage
from apps.access.usage import recorder
from tests.access.conftest import issue

pytestmark = pytest.mark.asyncio


in_thread = database_sync_to_async


@database_sync_to_async
def change(model, key_id, **fields):
    model.objects.filter(id=key_id).update(**fields)


async def closed_with(connect, key=None, headers=None):
    connection = await connect(headers=headers, key=key)
    closing = await connection.communicator.receive_output(timeout=5)
    assert closing["type"] == "websocket.close", closing
    return closing["code"], closing["reason"]


async def answers(connection):
    reply = await connection.request({"action": "ping"})
    return reply["type"] == "pong"


async def test_a_connection_without_a_key_is_closed_4001_saying_how_to_send_one(connect):
    assert await closed_with(connect) == (4001, "API key required. Provide via Authorization: Bearer <key>")


async def test_an_unknown_key_is_closed_4001(connect):
    assert await closed_with(connect, "kb_unknown1.secret") == (4001, "Invalid API key")


async def test_inactive_and_expired_keys_are_closed_4001(connect):
    inactive = await in_thread(issue)(name="off")
    await change(ApiKey, inactive[0].id, active=False)
    expired = await in_thread(issue)(name="old", expires_at=timezone.now() - timedelta(minutes=1))

    assert await closed_with(connect, inactive[1]) == (4001, "API key is inactive")
    assert await closed_with(connect, expired[1]) == (4001, "API key has expired")


async def test_the_key_of_an_inactive_user_is_closed_4003(connect):
    row, key = await in_thread(issue)()
    await change(get_user_model(), row.owner_id, is_active=False)
    assert await closed_with(connect, key) == (4003, "User account is inactive")


async def test_a_key_in_the_authorization_header_is_accepted(connect):
    key = (await in_thread(issue)())[1]
    connection = await connect(headers=[(b"authorization", f"Bearer {key}".encode())], key=None)
    assert await answers(connection)


async def test_a_key_revoked_while_connected_is_disconnected(connect, settings):
    settings.KIRBY_WS_KEY_RECHECK_SECONDS = 0.2
    row, key = await in_thread(issue)()
    connection = await connect(key=key)
    assert await answers(connection)

    await in_thread(row.revoke)()
    closing = await connection.communicator.receive_output(timeout=3)
    while closing["type"] == "websocket.send":  # a heartbeat may come first
        closing = await connection.communicator.receive_output(timeout=3)
    assert (closing["type"], closing["code"], closing["reason"]) == ("websocket.close", 4001, "API key is inactive")


async def test_every_connection_of_a_key_revoked_while_connected_is_disconnected_and_the_others_stay(connect, settings):
    # Re-checks of one process are done in batches (one read per key, one Redis round trip for the slots):
    # each connection still gets its own key's verdict.
    settings.KIRBY_WS_KEY_RECHECK_SECONDS = 0.2
    settings.KIRBY_WS_MAX_CONNECTIONS_PER_KEY = 20
    revoked_row, revoked = await in_thread(issue)(name="revoked")
    kept = (await in_thread(issue)(name="kept"))[1]
    doomed = [await connect(key=revoked) for _ in range(20)]
    staying = [await connect(key=kept) for _ in range(5)]
    for connection in doomed + staying:
        assert await answers(connection)

    await in_thread(revoked_row.revoke)()
    for connection in doomed:
        closing = await connection.communicator.receive_output(timeout=3)
        while closing["type"] == "websocket.send":  # a heartbeat may come first
            closing = await connection.communicator.receive_output(timeout=3)
        assert (closing["code"], closing["reason"]) == (4001, "API key is inactive")
    for connection in staying:
        assert await answers(connection)


async def test_a_key_that_expires_while_connected_is_disconnected(connect, settings):
    settings.KIRBY_WS_KEY_RECHECK_SECONDS = 0.2
    key = (await in_thread(issue)(expires_at=timezone.now() + timedelta(seconds=0.5)))[1]
    connection = await connect(key=key)
    assert await answers(connection)

    closing = await connection.communicator.receive_output(timeout=3)
    assert (closing["code"], closing["reason"]) == (4001, "API key has expired")


async def test_a_key_without_the_read_scope_is_closed_4003(connect):
    key = (await in_thread(issue)(scopes=[]))[1]
    assert await closed_with(connect, key) == (4003, "Read privileges required")


def refused_for_connections():
    return REGISTRY.get_sample_value("kirby_rate_limit_rejections_total", {"subject": "ws"})


@database_sync_to_async
def recorded_uses(key_id):
    recorder.flush()
    return list(
        ApiKeyUsage.objects.filter(api_key_id=key_id).order_by("time", "id").values_list("method", "endpoint", "status")
    )


async def test_a_connection_over_the_keys_limit_is_closed_4029_counted_and_recorded(connect, settings):
    settings.KIRBY_WS_MAX_CONNECTIONS_PER_KEY = 1
    row, key = await in_thread(issue)()
    before = refused_for_connections()
    first = await connect(key=key)
    assert await answers(first)

    assert await closed_with(connect, key) == (4029, "Too many connections: at most 1 per API key")
    assert refused_for_connections() - before == 1

    await first.close()
    again = await connect(key=key)  # a closed connection gives its slot back at once
    assert await answers(again)
    assert await recorded_uses(row.id) == [("WS", "/ws", 101), ("WS", "/ws", 4029), ("WS", "/ws", 101)]
