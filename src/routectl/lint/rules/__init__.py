"""One module per lint rule; see :mod:`routectl.lint.registry` for the contract."""
