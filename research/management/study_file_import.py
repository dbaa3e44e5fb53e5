import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluations.models import Study
from evaluations.studies.import_rows import ImportFailed


class StudyFileImportCommand(BaseCommand):
    """`manage.py <command> STUDY_SLUG FILE`: one all-or-nothing import into a study."""

    what = "rows"

    def import_file(self, *, study: Study, data: bytes, filename: str, size: int) -> int:
        raise NotImplementedError

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
                # One byte over the limit is enough for the import to refuse the file; the
                # message gives the real size.
                size = os.fstat(handle.fileno()).st_size
                data = handle.read(settings.MAX_IMPORT_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from None
        try:
            imported = self.import_file(study=target, data=data, filename=file.name, size=size)
        except ImportFailed as exc:
            raise CommandError(
                "Nothing was imported:\n" + "\n".join(f"  {error}" for error in exc.errors)
            ) from None
        self.stdout.write(self.style.SUCCESS(f"Imported {imported} {self.what} into {target.slug}"))
