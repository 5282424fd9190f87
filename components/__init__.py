"""Pure figure and layout builders for the dashboard (no I/O, no state)."""
