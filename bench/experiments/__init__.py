"""Experiments made of runs: capacity, scalability, floor, micro, schedule cost."""
