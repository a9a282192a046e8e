"""The fault suite: a daemon subprocess, a witness subscriber, seeded load, one fault per case."""
