"""Why generating an output did not happen or did not finish."""


class GenerationError(Exception):
    """Generation cannot start: the study or a candidate is not set up for it."""


class EmptyAnswer(Exception):
    """The provider answered 200 but with no text (a truncated stream, a proxy's error page)."""


class MissingKey(Exception):
    """The candidate names an environment variable for its key that is not set."""
