"""Results: votes aggregated into rankings, plots, the results page."""
