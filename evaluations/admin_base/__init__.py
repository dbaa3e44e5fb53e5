"""Building blocks any app's admin uses: study scoping, a capped paginator, id search."""
