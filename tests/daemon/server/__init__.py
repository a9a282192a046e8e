"""Tests of daemon.server."""
