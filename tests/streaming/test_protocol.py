"""The /ws message protocol of API.md: replies and every error path; the socket stays open after errors."""

import pytest

from tests.conftest import candle
from tests.streaming.conftest import minutes, write

pytestmark = pytest.mark.asyncio


async def still_answers(connection):
    reply = await connection.request({"action": "ping"})
    assert reply["type"] == "pong"


async def test_subscribe_replies_success_with_the_ids_deduplicated_in_request_order(connect, stream_world):
    w = stream_world
    connection = await connect()

    reply = await connection.request(
        {"action": "subscribe", "starlisting_ids": [w.sol_1m.id, w.btc_1m.id, w.sol_1m.id]}
    )

    assert reply == {
        "type": "success",
        "message": "Subscribed to 2 starlisting(s)",
        "starlisting_ids": [w.sol_1m.id, w.btc_1m.id],
    }


async def test_history_zero_or_absent_sends_no_history(connect, stream_world):
    connection = await connect()

    await connection.request({"action": "subscribe", "starlisting_ids": [stream_world.btc_1m.id], "history": 0})

    assert await connection.nothing()


async def test_unsubscribe_replies_success(connect, stream_world):
    w = stream_world
    connection = await connect()
    await connection.request({"action": "subscribe", "starlisting_ids": [w.btc_1m.id, w.sol_1m.id]})

    reply = await connection.request({"action": "unsubscribe", "starlisting_ids": [w.btc_1m.id]})

    assert reply == {
        "type": "success",
        "message": "Unsubscribed from 1 starlisting(s)",
        "starlisting_ids": [w.btc_1m.id],
    }


async def test_ping_is_answered_with_a_pong_and_a_utc_timestamp(connect):
    connection = await connect()

    reply = await connection.request({"action": "ping"})

    assert reply["type"] == "pong"
    assert reply["timestamp"].endswith("Z") and reply["timestamp"][:2] == "20"


@pytest.mark.parametrize(
    "text, code, words",
    [
        ("{not json", "invalid_json", "Invalid JSON"),
        ("", "invalid_json", "Invalid JSON"),
        ('["subscribe"]', "invalid_json", "JSON object"),
        ("42", "invalid_json", "JSON object"),
        ('{"starlisting_ids": [1]}', "unknown_action", "Unknown action: None"),
        ('{"action": "subscribe_all"}', "unknown_action", "subscribe_all"),
        ('{"action": 7}', "unknown_action", "Unknown action"),
    ],
)
async def test_malformed_messages_get_an_error_and_the_connection_stays_open(connect, text, code, words):
    connection = await connect()

    reply = await connection.request(text)

    assert reply["type"] == "error" and reply["code"] == code
    assert words in reply["message"]
    await still_answers(connection)


@pytest.mark.parametrize(
    "ids, field",
    [
        ([1, "2x"], "starlisting_ids[1]"),
        ([0], "starlisting_ids[0]"),
        ([-3], "starlisting_ids[0]"),
        ([True], "starlisting_ids[0]"),
        ([1.5], "starlisting_ids[0]"),
        ([None], "starlisting_ids[0]"),
        ([2**63], "starlisting_ids[0]"),
        ("1,2", "starlisting_ids"),
        (5, "starlisting_ids"),
        ([], "starlisting_ids"),
        (None, "starlisting_ids"),
        (list(range(1, 102)), "starlisting_ids"),
    ],
)
@pytest.mark.parametrize("action", ["subscribe", "unsubscribe"])
async def test_invalid_starlisting_ids_are_a_validation_error_naming_the_field(connect, action, ids, field):
    connection = await connect()
    message = {"action": action} if ids is None else {"action": action, "starlisting_ids": ids}

    reply = await connection.request(message)

    assert reply["type"] == "error" and reply["code"] == "validation_error"
    assert field + " " in reply["message"]
    assert "\n" not in reply["message"]
    await still_answers(connection)


@pytest.mark.parametrize("history", [-1, 1001, "ten", "1001", True, 2.5])
async def test_history_must_be_an_integer_from_0_to_1000(connect, stream_world, history):
    connection = await connect()

    reply = await connection.request(
        {"action": "subscribe", "starlisting_ids": [stream_world.btc_1m.id], "history": history}
    )

    assert reply["code"] == "validation_error" and reply["message"].startswith("history ")


async def test_numeric_strings_are_taken_as_1x_took_them(connect, stream_world):
    """1.x (Pydantic, lax) accepted "1" for 1 in starlisting_ids and history."""
    connection = await connect()
    star = stream_world.btc_1m.id

    reply = await connection.request({"action": "subscribe", "starlisting_ids": [str(star)], "history": "0"})

    assert reply == {"type": "success", "message": "Subscribed to 1 starlisting(s)", "starlisting_ids": [star]}


@pytest.mark.parametrize("channels, field", [([], "channels"), (["book"], "channels[0]"), ("candles", "channels")])
async def test_channels_must_name_known_channels(connect, stream_world, channels, field):
    connection = await connect()

    reply = await connection.request(
        {"action": "subscribe", "starlisting_ids": [stream_world.btc_1m.id], "channels": channels}
    )

    assert reply["code"] == "validation_error" and reply["message"].startswith(field + " ")


async def test_unknown_or_inactive_starlistings_are_listed_and_nothing_is_subscribed(connect, stream_world):
    w = stream_world
    connection = await connect()

    reply = await connection.request(
        {"action": "subscribe", "starlisting_ids": [w.btc_1m.id, 999999, w.sol_1h_inactive.id]}
    )

    assert reply["type"] == "error" and reply["code"] == "invalid_starlisting"
    assert "999999" in reply["message"] and str(w.sol_1h_inactive.id) in reply["message"]
    assert reply["starlisting_ids"] == [999999, w.sol_1h_inactive.id]
    await write("candles", [candle(w.btc_1m, minutes(100))])
    assert await connection.nothing(0.5), "the valid id of a rejected request must not be subscribed"


async def test_a_binary_frame_gets_an_error_not_a_dropped_connection(connect):
    connection = await connect()

    reply = await connection.request(b'{"action": "ping"}')

    assert reply["type"] == "error" and reply["code"] == "invalid_json"
    assert "Binary" in reply["message"]
    await still_answers(connection)


async def test_a_message_over_the_size_limit_gets_an_error(connect, settings):
    settings.KIRBY_WS_MAX_MESSAGE_BYTES = 1024
    connection = await connect()

    reply = await connection.request('{"action": "ping", "padding": "' + "é" * 600 + '"}')

    assert reply["type"] == "error" and reply["code"] == "message_too_large"
    assert "1024 bytes" in reply["message"]
    await still_answers(connection)


async def test_messages_over_the_rate_limit_get_an_error_until_tokens_return(connect, settings):
    settings.KIRBY_WS_RATE_PER_SECOND = 2
    settings.KIRBY_WS_RATE_BURST = 3
    connection = await connect()

    for _ in range(5):
        await connection.send({"action": "ping"})
    replies = [await connection.receive() for _ in range(5)]

    assert [r["type"] for r in replies] == ["pong", "pong", "pong", "error", "error"]
    assert replies[-1]["code"] == "rate_limited"
    await connection.nothing(0.6)  # a token comes back
    await still_answers(connection)


async def test_subscriptions_per_connection_are_limited(connect, stream_world, settings):
    settings.KIRBY_WS_MAX_SUBSCRIPTIONS = 2
    w = stream_world
    connection = await connect()
    await connection.request({"action": "subscribe", "starlisting_ids": [w.btc_1m.id, w.btc_1h.id]})

    again = await connection.request({"action": "subscribe", "starlisting_ids": [w.btc_1m.id]})
    over = await connection.request({"action": "subscribe", "starlisting_ids": [w.sol_1m.id]})

    assert again["type"] == "success"
    assert over["type"] == "error" and over["code"] == "subscription_limit"
    assert over["message"].startswith("starlisting_ids: at most 2 subscriptions")


async def test_the_starlistings_per_message_limit_is_configurable(connect, stream_world, settings):
    settings.KIRBY_WS_MAX_IDS_PER_MESSAGE = 2
    w = stream_world
    connection = await connect()

    reply = await connection.request(
        {"action": "subscribe", "starlisting_ids": [w.btc_1m.id, w.btc_1h.id, w.sol_1m.id]}
    )

    assert reply["code"] == "validation_error" and "1 to 2 IDs" in reply["message"]


async def test_a_failure_inside_kirby_is_an_internal_error_and_the_connection_survives(
    connect, stream_world, monkeypatch
):
    from apps.streaming import series

    def broken(ids, using="default"):
        raise RuntimeError("database went away")

    monkeypatch.setattr(series, "starlistings", broken)
    connection = await connect()

    reply = await connection.request({"action": "subscribe", "starlisting_ids": [stream_world.btc_1m.id]})

    assert reply["type"] == "error" and reply["code"] == "internal_error"
    await still_answers(connection)


async def test_the_server_sends_heartbeat_pings(connect, settings):
    settings.KIRBY_WS_HEARTBEAT_SECONDS = 0.2
    connection = await connect()

    first = await connection.receive(timeout=2)
    second = await connection.receive(timeout=2)

    assert first["type"] == second["type"] == "ping"
    assert first["timestamp"].endswith("Z")


@pytest.mark.parametrize("path", ["/ws", "/ws/"])
async def test_the_stream_answers_at_ws_with_or_without_a_slash(connect, path):
    connection = await connect(path)

    await still_answers(connection)


async def test_a_browser_client_with_origin_null_is_accepted(connect):
    connection = await connect(headers=[(b"origin", b"null"), (b"host", b"127.0.0.1")])

    await still_answers(connection)
