"""Leakage audit: delete-the-future equality and static columns that encode the future."""
