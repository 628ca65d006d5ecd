"""Tag management: deleting tags, retention rules that keep the last N tags matching a pattern,
and the registry's online garbage collection reclaiming what they free."""
