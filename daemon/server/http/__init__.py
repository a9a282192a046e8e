"""The aiohttp application: ingress, ops endpoints, streams, wire decoding, errors."""
