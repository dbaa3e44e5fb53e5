"""LLM judges: runs, verdicts, agreement with human raters."""
