"""Two-way sync between two connections' objects (the engine lives in workflows.engine.sync)."""
