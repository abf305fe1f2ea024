"""The agency's structure: workspaces (clients) and their accounts, tags and tag rules, profile
snapshots (follower growth) and report periods. Plain Python over the store (no Dagster)."""
