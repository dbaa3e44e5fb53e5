from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluations.importing import ImportFailed, outputs_import
from evaluations.models import Study


class Command(BaseCommand):
    help = (
        "Import existing outputs into a study from CSV or JSONL (prompt_id, model, output, "
        "[label, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd])."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("file", type=Path)

    def handle(self, *args, study: str, file: Path, **options) -> None:
        try:
            target = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}") from None
        try:
            with file.open("rb") as handle:
                data = handle.read(settings.MAX_IMPORT_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            imported = outputs_import(study=target, data=data, filename=file.name)
        except ImportFailed as exc:
            raise CommandError(
                "Nothing was imported:\n" + "\n".join(f"  {error}" for error in exc.errors)
            ) from None
        self.stdout.write(self.style.SUCCESS(f"Imported {imported} outputs into {target.slug}"))
