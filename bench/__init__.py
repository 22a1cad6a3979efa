"""`make bench`: a bounded benchmark suite against the sandboxes on loopback (see docs/performance.md)."""
