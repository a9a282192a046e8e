"""Tests of daemon.router."""
