"""autometa_sklearn plugin."""
