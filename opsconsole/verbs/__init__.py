"""Operator verbs of the ``opsconsole`` command, one module per noun; cli.py registers them."""
