import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()


def warm() -> None:
    """Do once what every process would otherwise do on its first requests.

    gunicorn preloads this module in its master (config/gunicorn.conf.py), so the URL
    resolver, the views' imports and the compiled rater templates are inherited by every worker
    it forks. Nothing here opens a database or cache connection: those must not be shared
    across a fork.
    """
    from django.template.loader import get_template
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    for name in ("raters/vote.html", "raters/_panel.html", "raters/home.html", "404.html"):
        get_template(name)
    # ~500,000 objects live as long as the process (LiteLLM's price table among them); a full
    # garbage collection walked them all, stalling every thread of the worker for 240 ms, the
    # load test's p99. Frozen, collections skip them.
    gc.freeze()


if os.environ.get("TASTETEST_WSGI_WARM", "1") != "0":
    warm()
