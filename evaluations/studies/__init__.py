"""Studies: creating, opening, lifecycle, importing, access."""
