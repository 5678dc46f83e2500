"""Xero Accounting connector."""
