"""A study's prompts, with their conversations and media."""

from django.db import models

from evaluations.models.study import Study


class Prompt(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    context = models.TextField(blank=True, help_text="Context or system text shown with it.")
    category = models.CharField(max_length=100, blank=True, db_index=True)
    reference = models.TextField(blank=True, help_text="Optional reference answer.")
    messages = models.JSONField(
        default=list,
        blank=True,
        help_text="A fixed conversation (system/user/assistant messages, ending with the user's), "
        "or with scripted turns only the system message. Each message's content is a list of "
        'parts: {"type": "text", "text"}, {"type": "image", "media"} or {"type": "file", '
        '"media", "filename"}; media is the sha256 of a PromptMedia of the study.',
    )
    turns = models.JSONField(
        default=list,
        blank=True,
        help_text="Scripted follow-ups: the user's turns, each candidate answering them in order.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "external_id"], name="prompt_unique_id"),
        ]
        # The admin's prompt list, a study's page of it in order without sorting them all.
        indexes = [models.Index(fields=["study", "id"], name="prompt_study_order")]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_conversation(self) -> bool:
        return bool(self.messages or self.turns)


def prompt_media_path(instance: "PromptMedia", filename: str) -> str:
    # Named by study and content hash: the same bytes are stored once per study, and the name
    # reveals nothing of the uploaded file's name.
    return f"prompt_media/{instance.study_id}/{instance.sha256}"


class PromptMedia(models.Model):
    """An image or document a study's prompts show; served only to the study's raters and owner."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="media")
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=prompt_media_path, max_length=300)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    filename = models.CharField(max_length=255, blank=True, help_text="As named in the import.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "sha256"], name="prompt_media_unique_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.filename or self.sha256[:12]} ({self.content_type})"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")
