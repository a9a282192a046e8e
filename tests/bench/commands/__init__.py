"""Tests of bench.commands."""
