"""State that several replicas will share: protocols with in-process and SQLite implementations."""
