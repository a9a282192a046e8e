"""Tests of bench.host."""
