"""Bulk exports of market data to CSV and Parquet (``manage.py export``, ``/export``, export jobs).

Every export is one ``COPY (SELECT ...) TO STDOUT`` streamed from
PostgreSQL row by row: CSV is written as it arrives, Parquet is parsed from
the same stream by pyarrow in blocks and written in row groups, so memory
stays flat whatever the size. Windows are half-open ``[start, end)`` on the
row time (a candle's open time), UTC.
"""
