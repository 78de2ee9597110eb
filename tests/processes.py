"""What a process started by a test needs to share this test's database."""

from urllib.parse import quote

from django.db import connections


def database_url(alias="default"):
    """DATABASE_URL of the database this test runs against (the test database, not the configured one)."""
    database = connections[alias].settings_dict
    password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    user = quote(database["USER"], safe="")
    return f"postgres://{user}{password}@{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"
