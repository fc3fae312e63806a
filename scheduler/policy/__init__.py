"""Pure policy: `decide(snapshot, config) -> list[Action]`. No I/O, no clock, no logging."""

from scheduler.policy.config import PolicyConfig
from scheduler.policy.decide import decide

__all__ = ["PolicyConfig", "decide"]
