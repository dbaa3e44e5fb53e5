from django.apps import AppConfig


class RatersConfig(AppConfig):
    name = "raters"
    verbose_name = "Raters"

    def ready(self) -> None:
        from raters import signin_limits  # noqa: F401  (connects the sign-in signal receivers)
