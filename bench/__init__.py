"""`make bench`: the connector against the sandbox, side by side with the seed's three-step plan."""
