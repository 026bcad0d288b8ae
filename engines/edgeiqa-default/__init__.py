"""The default model as package data: see runtime/default_model.py (this file is not part of the bundle)."""
