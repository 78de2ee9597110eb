"""Importing a Kirby 1.x database (reference kirby-1x.md §1): reference rows, then the series.

The source is read with plain SQL only (SELECTs through a server-side cursor), so a
TimescaleDB 1.x database and a plain PostgreSQL copy of one both work.
"""
