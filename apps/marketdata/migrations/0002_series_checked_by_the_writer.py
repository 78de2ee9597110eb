# The time-series tables drop their foreign keys: checking one per inserted
# row at commit cost as much as the insert itself (bench/upsert.py). The one
# write path checks that every series exists, once per batch, and rejects
# rows of unknown series; Django's PROTECT still guards deletes.

import django.db.models.deletion
from django.db import migrations, models

DROP = """
ALTER TABLE candles DROP CONSTRAINT IF EXISTS candles_starlisting_id_fkey;
ALTER TABLE funding_rates DROP CONSTRAINT IF EXISTS funding_rates_trading_pair_id_fkey;
ALTER TABLE open_interest DROP CONSTRAINT IF EXISTS open_interest_trading_pair_id_fkey;
"""
RESTORE = """
ALTER TABLE candles ADD CONSTRAINT candles_starlisting_id_fkey FOREIGN KEY (starlisting_id)
    REFERENCES starlistings (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE funding_rates ADD CONSTRAINT funding_rates_trading_pair_id_fkey FOREIGN KEY (trading_pair_id)
    REFERENCES trading_pairs (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE open_interest ADD CONSTRAINT open_interest_trading_pair_id_fkey FOREIGN KEY (trading_pair_id)
    REFERENCES trading_pairs (id) DEFERRABLE INITIALLY DEFERRED;
"""


def foreign_key(model):
    return models.ForeignKey(
        db_constraint=False, on_delete=django.db.models.deletion.PROTECT, related_name="+", to=model
    )


class Migration(migrations.Migration):
    dependencies = [
        ("marketdata", "0001_initial"),
        ("markets", "0002_seed_intervals"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunSQL(DROP, RESTORE)],
            state_operations=[
                migrations.AlterField("candle", "starlisting", foreign_key("markets.starlisting")),
                migrations.AlterField("fundingrate", "trading_pair", foreign_key("markets.tradingpair")),
                migrations.AlterField("openinterest", "trading_pair", foreign_key("markets.tradingpair")),
            ],
        ),
    ]
