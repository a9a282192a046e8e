"""Examples to copy from a checkout (not part of the installed package)."""
