"""Instance pools, the instance state machine, and the processes behind them."""

from nimbus.instances.lifecycle import DeathReason, InstanceState
from nimbus.instances.manager import InstanceManager, ManagerStats

__all__ = ["DeathReason", "InstanceManager", "InstanceState", "ManagerStats"]
