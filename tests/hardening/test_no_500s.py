"""Inputs found by fuzzing that used to yield a 500: each is now a 400 naming the parameter."""

import pytest


def _named(response, where, name):
    assert response.status_code == 400, response.content
    assert [where, name] in [error["loc"] for error in response.json()["errors"]]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("start_time", "0001-01-01T00:00:00+05:00"),
        ("end_time", "0001-01-01"),
        ("start_time", "9999-12-31T23:59:59-05:00"),
        ("end_time", "9999-12-31T23:59:59"),
        ("start_time", "99999999999999999999999"),
        ("start_time", "\u00b2"),
        ("end_time", "\u0661\u0662"),
    ],
)
def test_times_beyond_the_calendar_are_a_400(client, world, name, value):
    for path in ("/candles/hyperliquid/BTC/USD/perps/1m", "/funding/hyperliquid/BTC/USD/perps", "/gaps"):
        _named(client.get(path, {name: value}), "query", name)


@pytest.mark.parametrize("raw", ["%C2%B2", "%D9%A3", "%EF%BC%91"])  # superscript two, Arabic-Indic three, fullwidth one
def test_unicode_digits_in_path_ids_are_a_400(client, admin_api, world, raw):
    _named(client.get(f"/starlistings/{raw}"), "path", "starlisting_id")
    _named(admin_api.get(f"/backfills/{raw}"), "path", "job_id")
    _named(admin_api.delete(f"/backfills/{raw}"), "path", "job_id")
    _named(admin_api.get(f"/admin/users/{raw}"), "path", "user_id")
    _named(admin_api.delete(f"/admin/keys/{raw}"), "path", "key_id")


@pytest.mark.parametrize(
    "body",
    [
        {"days": 38909517319},
        {"days": 10, "end_time": "0001-01-02"},
        {"start_time": "0001-01-01T00:00:00+05:00"},
        {"end_time": "0001-01-01"},
    ],
)
def test_backfill_windows_beyond_the_calendar_are_a_400(admin_api, world, body):
    request = {"exchange": "hyperliquid", "coin": "BTC", "quote": "USD", "market_type": "perps", "interval": "1m"}
    response = admin_api.post("/backfills", {**request, **body}, content_type="application/json")

    assert response.status_code == 400, response.content
    named = {tuple(error["loc"]) for error in response.json()["errors"]}
    assert named & {("body", name) for name in body}


@pytest.mark.parametrize(
    "argv",
    [
        ["create_api_key", "--user", "x", "--name", "x", "--create-user", "--expires-in-days", "38909517319"],
        ["export", "--coin", "BTC", "--days", "38909517319"],
    ],
)
def test_commands_refuse_day_counts_beyond_the_calendar_with_a_message(world, argv):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="at most"):
        call_command(*argv)


@pytest.mark.parametrize("raw", ["\u0661\u0660", "1_0", "\u00b2"])
def test_a_limit_in_anything_but_ascii_digits_is_a_400(client, world, raw):
    _named(client.get("/candles/hyperliquid/BTC/USD/perps/1m", {"limit": raw}), "query", "limit")
