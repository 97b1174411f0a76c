"""One training loop for every model, with callbacks and MLflow tracking."""
