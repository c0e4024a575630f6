"""Framework: the stage protocol, the document schema, the registry, config, stats, errors."""
