"""Serializers that document response shapes in the OpenAPI schema, and bodies built without them.

The data views build their bodies directly (see queries.py); these classes
exist so /api/schema/ describes exactly what is sent. ``*_body`` functions
build the response of one object.
"""

from rest_framework import serializers

from apps.marketdata.export.files import iso
from apps.marketdata.export.jobs import download_link
from apps.marketdata.models import ExportJob


def _decimal(nullable=False, help_text="Exact decimal as a string in plain notation"):
    return serializers.CharField(allow_null=nullable, help_text=help_text)


class CandleSerializer(serializers.Serializer):
    time = serializers.DateTimeField(help_text="Open time, UTC")
    open = _decimal()
    high = _decimal()
    low = _decimal()
    close = _decimal()
    volume = _decimal()
    num_trades = serializers.IntegerField(allow_null=True)
    closed = serializers.BooleanField(help_text="True once the candle's interval has ended")


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


class FundingSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    funding_rate = _decimal()
    premium = _decimal(nullable=True)
    mark_price = _decimal(nullable=True)
    index_price = _decimal(nullable=True)
    oracle_price = _decimal(nullable=True)
    mid_price = _decimal(nullable=True)
    next_funding_time = serializers.DateTimeField(allow_null=True)


class FundingResponseSerializer(serializers.Serializer):
    data = FundingSerializer(many=True)
    metadata = SeriesMetadataSerializer()


class OpenInterestSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    open_interest = _decimal()
    notional_value = _decimal(nullable=True)
    day_base_volume = _decimal(nullable=True)
    day_notional_volume = _decimal(nullable=True)


class OpenInterestResponseSerializer(serializers.Serializer):
    data = OpenInterestSerializer(many=True)
    metadata = SeriesMetadataSerializer()


def export_job_body(job):
    """An export job: its status, and once done its files with download links that expire."""
    files = []
    for item in job.files if job.status == ExportJob.DONE else []:
        url, expires = download_link(job, item["name"])
        sidecar_url, _ = download_link(job, item["sidecar"])
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
