"""Provider connections set up by the operator."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class ProviderConnection(models.Model):
    """An operator-approved deployment: an api_base (or the provider's own endpoint) and the
    environment variable holding its key, available to the users named or to everyone.

    Connections may also be declared in settings (``PROVIDER_CONNECTIONS``); those win over a
    row of the same name.
    """

    name = models.SlugField(max_length=80, unique=True)
    api_base = models.URLField(
        max_length=500, blank=True, help_text="Blank: the provider's own endpoint for the model."
    )
    api_key_env = models.CharField(
        max_length=100,
        blank=True,
        help_text="Environment variable of the worker holding the key (one the allowlist "
        "PROVIDER_KEY_ENV_ALLOWLIST permits); blank: LiteLLM's usual one.",
    )
    available_to_all = models.BooleanField(
        default=False, help_text="Every researcher may use it; otherwise only the users below."
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="provider_connections"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from evaluations.providers.access import provider_connection_errors

        errors = provider_connection_errors(self)
        if errors:
            raise ValidationError(errors)
