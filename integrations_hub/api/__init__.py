"""The REST API for API consumers at /api/v1/: tokens, errors, idempotency, pagination, permissions."""
