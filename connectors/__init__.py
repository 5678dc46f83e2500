"""System APIs: shared HTTP plumbing and one package per vendor, each with a sandbox."""
