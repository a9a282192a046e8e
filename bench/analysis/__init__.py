"""Statistics over runs: intervals, verdicts, comparison, USL, baselines, objectives."""
