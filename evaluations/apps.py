from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "Evaluations"

    def ready(self) -> None:
        # tasks: services enqueue by task name (they never import the tasks); registering the
        # tasks in every process lets a name resolve to its task, which honours task_always_eager.
        # cache_versioning: the signals that make cached results stale when votes change.
        from evaluations import tasks  # noqa: F401
        from evaluations.results import cache_versioning  # noqa: F401
