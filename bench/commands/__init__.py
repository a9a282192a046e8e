"""The ``python -m bench`` sub-commands: one thin module per command."""
