"""The daemon's HTTP surface: ingress, operations endpoints and WebSocket streams."""
