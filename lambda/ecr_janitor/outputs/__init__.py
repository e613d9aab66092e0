"""What a run tells: the report model, its JSON and text renderings, the audit log lines and the metrics.
It depends on the core, never on the adapters."""
