from django.apps import AppConfig


class ResearchConfig(AppConfig):
    """The researcher's side, above evaluations and raters: results, judges, re-evaluation,
    decision, and the entry points (admin, REST API, commands, Celery tasks). It has no models."""

    name = "research"
    verbose_name = "Research"

    def ready(self) -> None:
        # tasks: services enqueue by task name (they never import the tasks); registering the
        # tasks in every process lets a name resolve to its task, which honours task_always_eager.
        # cache_versioning: the signals that make cached results stale when votes change.
        from research import tasks  # noqa: F401
        from research.results import cache_versioning  # noqa: F401
