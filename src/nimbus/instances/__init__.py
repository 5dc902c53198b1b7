"""Instance pools, the instance state machine, and the processes behind them."""

from nimbus.instances.lifecycle import DeathReason, InstanceState
from nimbus.instances.manager import InstanceManager
from nimbus.instances.stats import ManagerStats

__all__ = ["DeathReason", "InstanceManager", "InstanceState", "ManagerStats"]
