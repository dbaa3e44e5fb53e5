"""Anonymity: outputs scrubbed of self-identification, and the review of what may remain."""
