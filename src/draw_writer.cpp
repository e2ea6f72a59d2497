// placeholder: filled in by its feature
