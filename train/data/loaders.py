"""Loaders for the public IQA datasets (filled in by the dataset registry work)."""
