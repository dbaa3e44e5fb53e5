"""The admin, one module per concern; `studies` registers the ModelAdmins."""

from evaluations.admin import studies  # noqa: F401 - autodiscover imports this package
