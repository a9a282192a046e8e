"""Tests of bench.memory."""
