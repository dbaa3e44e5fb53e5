"""The admin, one module per concern; `studies` registers the ModelAdmins."""

from research.admin import studies  # noqa: F401 - autodiscover imports this package
