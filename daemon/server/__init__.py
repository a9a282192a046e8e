"""Production mode: config, CLI, admission, metrics, logs, HTTP app, subscribers."""
