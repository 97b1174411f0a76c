"""Data: raw sources, simulators, preprocessing recipes and the Zarr store."""
