"""The named choices callers pass to `analyze` (ties, both-bad votes, clustering), without the
numpy/scipy the computations need: forms and serializers validate against them at import."""

TIES_OPTIONS = ("half", "davidson")
BOTH_BAD_OPTIONS = ("tie", "exclude")
CLUSTER_OPTIONS = ("auto", "none", "rater", "prompt", "both")
