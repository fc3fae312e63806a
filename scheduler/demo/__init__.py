"""`spotsched demo`: the real daemon stack against the in-process emulator on a virtual clock.

Lives outside the layered production packages because it builds on the emulator, which no
production module may import.
"""
