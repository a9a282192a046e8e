"""Traces: the user's own traffic, imported or recorded, read, transformed and replayed."""
