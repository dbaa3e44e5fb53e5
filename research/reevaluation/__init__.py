"""Re-evaluation: study clones, comparisons and drift checks."""
