"""Tests of the operator assets in deploy/ (dashboard, alert rules, systemd unit)."""
