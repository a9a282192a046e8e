"""Tests of daemon.journal."""
