"""Who may do what: client keys resolved to a principal, and the pure policy check."""
