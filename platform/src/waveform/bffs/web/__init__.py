"""The web BFF: fine-grained endpoints, normalized entities, cursors passed through."""
