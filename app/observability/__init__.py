"""Operating the gateway: logs (text or JSON, with request ids), metrics, traces, readiness."""
