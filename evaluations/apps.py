from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "Evaluations"

    def ready(self) -> None:
        # Connects the signals that make cached results stale when votes change.
        from evaluations.results import cache_versioning  # noqa: F401
