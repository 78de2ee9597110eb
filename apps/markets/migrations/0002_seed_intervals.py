from django.db import migrations

INTERVALS = {
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
    "1M": 2592000,
}


def seed(apps, schema_editor):
    Interval = apps.get_model("markets", "Interval")
    # The database being migrated (default or training), not whatever the router picks.
    using = schema_editor.connection.alias
    for name, seconds in INTERVALS.items():
        Interval.objects.using(using).update_or_create(name=name, defaults={"seconds": seconds})


class Migration(migrations.Migration):
    dependencies = [("markets", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
