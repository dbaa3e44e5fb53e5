"""The embedded broker's URL and transport alias, without the transport: settings need only the
URL, and kombu imports `config.sqlite_broker` (with SQLAlchemy) when a connection is opened."""

from kombu.transport import TRANSPORT_ALIASES

ALIAS = "sqlite-broker"


def broker_url(path: str) -> str:
    return f"{ALIAS}+sqlite:///{path}"


TRANSPORT_ALIASES[ALIAS] = "config.sqlite_broker:Transport"
