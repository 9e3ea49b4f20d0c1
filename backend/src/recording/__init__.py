"""Session recording and exact replay (docs/RECORDING.md)."""
