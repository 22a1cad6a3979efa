"""Writes for two-way syncs: definitions and schedules, runs (read → match → reconcile → write → record),
the review queue's decisions and the alerts about it."""
