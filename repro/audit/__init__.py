"""The audit: replicate runs under both modes, then measure divergence, FID variance, cost and
architecture differences, and write a report (``repro.audit.run.run_audit``)."""
