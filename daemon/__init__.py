"""Architecture B: the centralised router (and, beside it, its production server)."""

from __future__ import annotations

from daemon.router.central import CentralRouter
from daemon.router.config import RouterConfig, load_router_config

__all__ = ["CentralRouter", "RouterConfig", "load_router_config"]
