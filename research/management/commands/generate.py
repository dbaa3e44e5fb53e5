from django.core.management.base import BaseCommand, CommandError

from evaluations.generation.errors import GenerationError
from evaluations.generation.progress import generation_progress
from evaluations.generation.starting import generation_start
from evaluations.models import Study


class Command(BaseCommand):
    help = (
        "Generate a study's outputs: one per (prompt, candidate). Queues Celery tasks by default; "
        "--inline runs them in this process instead (no worker needed)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument(
            "--retry-failed", action="store_true", help="Also retry outputs that failed."
        )
        parser.add_argument(
            "--inline", action="store_true", help="Generate here and now, without Celery."
        )

    def handle(self, *args, study: str, retry_failed: bool, inline: bool, **options) -> None:
        try:
            target = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}") from None
        try:
            if inline:
                self._inline(target, retry_failed=retry_failed)
            else:
                queued = generation_start(study=target, retry_failed=retry_failed)
                self.stdout.write(
                    self.style.SUCCESS(f"Queued {queued} outputs of {target.slug} for the workers")
                )
        except GenerationError as exc:
            raise CommandError(str(exc)) from None
        progress = generation_progress(study=Study.objects.get(pk=target.pk))
        self.stdout.write(
            f"{progress.done} done, {progress.failed} failed, "
            f"{progress.running + progress.pending} to go; cost so far ${progress.cost_usd:.4f}"
        )

    def _inline(self, study: Study, *, retry_failed: bool) -> None:
        from celery import current_app as app  # config.celery's app: config imports it first

        # Runs the same tasks, eagerly in this process: same code path as a worker.
        app.conf.task_always_eager = True
        try:
            queued = generation_start(study=study, retry_failed=retry_failed)
        finally:
            app.conf.task_always_eager = False
        self.stdout.write(self.style.SUCCESS(f"Generated {queued} outputs of {study.slug}"))
