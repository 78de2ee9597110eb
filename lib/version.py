"""Kirby's version, shown by / and the OpenAPI schema."""

VERSION = "2.0.0"
