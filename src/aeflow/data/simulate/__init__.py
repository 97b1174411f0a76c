"""Physics simulators, one module per kind of data."""
