"""spotsched: a cost-aware spot GPU scheduler daemon for RunPod."""

__version__ = "0.1.0"
