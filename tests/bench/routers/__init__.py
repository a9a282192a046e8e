"""Tests of bench.routers."""
