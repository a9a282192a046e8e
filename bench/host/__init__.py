"""The machine under the bench: environment, machine speed, stall probe, allocator."""
