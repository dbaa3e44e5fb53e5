from django.core.management.base import BaseCommand, CommandError

from evaluations.generation.pairing import pairs_build
from evaluations.models import Study


class Command(BaseCommand):
    help = "Build the missing blind pairs of a study from its finished outputs (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="The study's slug.")

    def handle(self, *args, study: str, **options) -> None:
        try:
            target = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}") from None
        created = pairs_build(study=target)
        total = target.pairs.count()
        self.stdout.write(self.style.SUCCESS(f"Built {created} new pairs; {total} in all"))
