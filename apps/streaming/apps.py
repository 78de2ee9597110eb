from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "apps.streaming"
    label = "streaming"
    verbose_name = "Streaming"

    def ready(self):
        from apps.marketdata.writer import market_data_written
        from apps.streaming.fanout import publish_written_rows

        market_data_written.connect(publish_written_rows, dispatch_uid="apps.streaming.fanout")
