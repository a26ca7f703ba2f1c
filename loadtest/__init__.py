"""Load and benchmark tools for the layout-parsing service."""
