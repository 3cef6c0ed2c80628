"""Small helpers shared by every layer (atomic file writes, logging setup)."""
