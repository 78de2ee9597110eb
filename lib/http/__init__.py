"""Project-wide HTTP toolkit: JSON rendering, error bodies, query parameters, schema helpers."""
