"""Tests of bench/http: the load driver and the witness."""
