"""dockyard-shim, the per-container monitor process (shim.c), and the engine's side of it."""
