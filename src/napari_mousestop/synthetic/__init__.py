"""Synthetic LMT recordings: the schema generator, mouse motion with planted stops and places."""
