"""The bench over HTTP: the load driver for a running daemon, the bare aiohttp app."""
