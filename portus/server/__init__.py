"""What the web server process adds around the application: probes, /metrics, the request log, gunicorn's hooks."""
