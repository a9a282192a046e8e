"""Tests of bench.experiments."""
