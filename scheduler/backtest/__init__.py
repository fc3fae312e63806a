"""Backtesting: what would spotsched have paid on a given market, per policy?

A run replays a market (`markets.py`) for a set of jobs (`jobs.py`) with the real daemon against
the in-process emulator on a virtual clock (`runner.py`, ticks planned by `schedule.py`, quiet
ticks left out by `quiet.py`); `optimum.py` computes the hindsight lower bound; `scoring.py`,
`study.py` and `sweep.py` score, group and spread runs over processes. Like `scheduler.demo`,
this package may import the emulator; no production module imports it.
"""
