"""Operations' HTTP endpoints, one module per audience.

service: /, /health, /livez, /readyz (anyone, probes). status: /api/status (admin keys).
metrics: /metrics (Prometheus). dashboard: /dashboard and its data (staff, Django admin login).
"""
