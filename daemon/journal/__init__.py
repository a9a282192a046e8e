"""The crash journal: segments, group-committed appends, replay, reclaim, dead letters."""
