from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "Evaluations"

    def ready(self) -> None:
        # Connects the signals that make cached results stale when votes change.
        from evaluations.results import cache_versioning  # noqa: F401

        # Services enqueue by task name (they never import the tasks); every process registers
        # the tasks so that a name resolves to its task, which honours task_always_eager.
        from evaluations import tasks  # noqa: F401
