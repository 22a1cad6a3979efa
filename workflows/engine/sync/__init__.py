"""Two-way sync, as plain Python: the definition, record identity, change detection and conflict policy.

Nothing here touches the ORM or HTTP. The service (workflows/sync/services) loads the stored state of a
record pair, hands it to `reconcile`, performs the writes the plan asks for and stores the new state.
"""
