"""Inbound monitoring integrations (issue 11 §5): Prometheus Alertmanager, Grafana alerting and the
generic signal shape, each posting with its own revocable bearer token. One alert is one signal,
folded by (integration, fingerprint) through the signals' dedup; a resolved alert updates it."""
