"""Sub-commands of `fabcommons` for each feature; each module has `register(sub)`."""
