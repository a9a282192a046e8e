"""Architecture A: one DataCoordinator per module (the design being migrated)."""

from __future__ import annotations

from coordinator.config import CoordinatorConfig, load_coordinator_config
from coordinator.module import DataCoordinator
from coordinator.router import CoordinatorRouter

__all__ = ["CoordinatorConfig", "CoordinatorRouter", "DataCoordinator", "load_coordinator_config"]
