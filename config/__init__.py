import os

# The analysis solves many small linear systems; OpenBLAS's thread pool makes those far slower
# (measured 70x on a loaded 2-core machine), so one thread unless the operator says otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
