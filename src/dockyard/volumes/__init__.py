"""Named and anonymous volumes: directories under <root>/volumes that outlive containers."""
