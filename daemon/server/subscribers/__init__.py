"""The production daemon's subscribers: in-process, webhooks, WebSocket hubs."""
