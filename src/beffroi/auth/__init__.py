"""Users, roles, API tokens, sessions and the hash-chained audit log."""
