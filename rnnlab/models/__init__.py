"""Models composed from the engine: the character-level language model and its sampling."""
