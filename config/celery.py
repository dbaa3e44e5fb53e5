import gc
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

app = Celery("tastetest")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_process_init.connect  # a prefork child, once it has imported everything
@signals.worker_ready.connect  # the solo and threads pools run tasks in this process
def _freeze_startup_objects(**kwargs: object) -> None:
    # LiteLLM's price table and the imports make ~500,000 long-lived objects; every full
    # collection walks them all (240 ms here, the event loop stalled). Frozen, they are skipped.
    gc.freeze()
