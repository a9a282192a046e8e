"""Subscribers of the production daemon: in-process handlers, webhooks, WebSocket streams."""
