"""Serializers that document response shapes in the OpenAPI schema, and bodies built without them.

The data views build their bodies directly (see queries.py); these classes
exist so /api/schema/ describes exactly what is sent. The items' fields come
from the table specs (tables.py): one field per item column, with its help
text. ``*_body`` functions build the response of one object.
"""

from rest_framework import serializers

from apps.marketdata import tables
from apps.marketdata.export import formats, jobs, spec
from apps.marketdata.export.files import iso
from apps.marketdata.models import ExportJob
from lib.http.schema import TIME_HELP


def _field(column):
    """The documented field of one item column, as the API sends it (decimals as strings)."""
    options = {"allow_null": column.null, "help_text": column.help_text or None}
    if column.kind == tables.TIME:
        return serializers.DateTimeField(**options)
    if column.kind in (tables.DECIMAL, tables.TEXT):
        return serializers.CharField(**options)
    if column.kind == tables.LEVELS:
        return serializers.ListField(child=serializers.ListField(child=serializers.CharField()), **options)
    if column.kind == tables.INTEGER:
        return serializers.IntegerField(**options)
    if column.kind == tables.BOOLEAN:
        return serializers.BooleanField(**options)
    raise ValueError(f"no documented field for kind {column.kind!r}")


def item_serializer(name, table):
    """A Serializer class named ``name`` with one field per item column of ``table``, in column order."""
    fields = {column.name: _field(column) for column in table.item_columns}
    return type(
        name,
        (serializers.Serializer,),
        {**fields, "__module__": __name__, "__doc__": f"One row of the {table.name} table, as the API sends it."},
    )


CandleSerializer = item_serializer("CandleSerializer", tables.CANDLES)
FundingSerializer = item_serializer("FundingSerializer", tables.FUNDING)
OpenInterestSerializer = item_serializer("OpenInterestSerializer", tables.OPEN_INTEREST)


class SeriesMetadataSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    coin = serializers.CharField()
    quote = serializers.CharField()
    trading_pair = serializers.CharField()
    market_type = serializers.CharField()
    count = serializers.IntegerField()
    start_time = serializers.DateTimeField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)


class CandleMetadataSerializer(SeriesMetadataSerializer):
    interval = serializers.CharField()


class CandlesResponseSerializer(serializers.Serializer):
    data = CandleSerializer(many=True)
    metadata = CandleMetadataSerializer()


class FundingResponseSerializer(serializers.Serializer):
    data = FundingSerializer(many=True)
    metadata = SeriesMetadataSerializer()


class OpenInterestResponseSerializer(serializers.Serializer):
    data = OpenInterestSerializer(many=True)
    metadata = SeriesMetadataSerializer()


TradeSerializer = item_serializer("TradeSerializer", tables.TRADES)


class TradesMetadataSerializer(SeriesMetadataSerializer):
    next = serializers.CharField(
        allow_null=True,
        help_text="When more trades of the window follow: pass it as `cursor` to get them; null at the end",
    )


class TradesResponseSerializer(serializers.Serializer):
    data = TradeSerializer(many=True)
    metadata = TradesMetadataSerializer()


_LEVELS = "Best first, as [price, size] pairs of exact decimal strings"


class BookSerializer(serializers.Serializer):
    time = serializers.DateTimeField(allow_null=True, help_text="Venue time of the last update in the book, UTC")
    sequence = serializers.IntegerField(
        allow_null=True, help_text="The venue's sequence number of the book, when it has one"
    )
    bids = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), help_text=_LEVELS)
    asks = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), help_text=_LEVELS)


class BookMetadataSerializer(serializers.Serializer):
    exchange = serializers.CharField()
    coin = serializers.CharField()
    quote = serializers.CharField()
    trading_pair = serializers.CharField()
    market_type = serializers.CharField()
    source = serializers.ChoiceField(
        choices=["live", "stored"], help_text="live: the collector's current book; stored: a stored snapshot"
    )
    in_sync = serializers.BooleanField(help_text="True: the book followed the venue's sequence without a break")
    time = serializers.DateTimeField(allow_null=True)
    sequence = serializers.IntegerField(allow_null=True)
    age_seconds = serializers.FloatField(help_text="Seconds since the book was published (live) or stored time")
    depth = serializers.IntegerField(help_text="Levels per side asked for")


class BookResponseSerializer(serializers.Serializer):
    data = BookSerializer()
    metadata = BookMetadataSerializer()


class BookHistoryMetadataSerializer(SeriesMetadataSerializer):
    depth = serializers.IntegerField()


class BookHistoryResponseSerializer(serializers.Serializer):
    data = BookSerializer(many=True)
    metadata = BookHistoryMetadataSerializer()


class UnavailableSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="Why the current book is not served (not in sync, stale, not collected)")


class ExportFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    format = serializers.CharField(help_text=" or ".join(formats.FORMATS))
    rows = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Bytes")
    sidecar = serializers.CharField(help_text="Name of the file's JSON sidecar")
    download_url = serializers.CharField(help_text="Path of the file with a signed token; valid until expires_at")
    sidecar_url = serializers.CharField(help_text="Path of the sidecar with a signed token")
    expires_at = serializers.DateTimeField()


class ExportJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField(help_text=", ".join(s for s, _ in ExportJob.STATUSES))
    type = serializers.ChoiceField(choices=list(spec.TYPES))
    path = serializers.CharField(help_text="exchange/coin/quote/market_type[/interval]")
    format = serializers.ChoiceField(choices=list(jobs.FORMATS))
    start_time = serializers.DateTimeField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)
    rows = serializers.IntegerField()
    error = serializers.CharField(allow_null=True)
    files = ExportFileSerializer(many=True, help_text="Empty until the job is done")
    status_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ExportJobRequestSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=list(spec.TYPES))
    exchange = serializers.CharField()
    coin = serializers.CharField()
    quote = serializers.CharField()
    market_type = serializers.CharField()
    interval = serializers.CharField(required=False, help_text="candles and merged only")
    format = serializers.ChoiceField(choices=list(jobs.FORMATS), required=False, help_text="Default csv")
    numbers = serializers.ChoiceField(choices=list(formats.NUMBERS), required=False, help_text="Parquet numbers")
    start_time = serializers.CharField(required=False, help_text=f"Inclusive start. {TIME_HELP}")
    end_time = serializers.CharField(required=False, help_text=f"Exclusive end. {TIME_HELP}")


def export_job_body(job):
    """An export job: its status, and once done its files with download links that expire."""
    files = []
    for item in job.files if job.status == ExportJob.DONE else []:
        url, expires = jobs.download_link(job, item["name"])
        sidecar_url, _ = jobs.download_link(job, item["sidecar"])
        files.append({**item, "download_url": url, "sidecar_url": sidecar_url, "expires_at": iso(expires)})
    return {
        "id": str(job.id),
        "status": job.status,
        "type": job.export_type,
        "path": "/".join(filter(None, (job.exchange, job.coin, job.quote, job.market_type, job.interval))),
        "format": job.format,
        "start_time": iso(job.start_time),
        "end_time": iso(job.end_time),
        "rows": job.rows,
        "error": job.error or None,
        "files": files,
        "status_url": f"/exports/{job.id}",
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
    }
