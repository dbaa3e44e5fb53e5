import json

from django.core.management.base import BaseCommand, CommandError

from evaluations.generation.errors import GenerationError
from evaluations.generation.starting import generation_start
from evaluations.models import Study
from research.reevaluation.clones import CloneError, study_clone


class Command(BaseCommand):
    help = (
        "Clone a study with a candidate added, removed or re-pinned to a new version, reusing "
        "the outputs, pairs, votes and judge calls that stay valid. Prints what was reused."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="The source study's slug.")
        parser.add_argument("--slug", required=True, help="The clone's slug.")
        parser.add_argument("--name", help="The clone's name (default: source name + slug).")
        parser.add_argument(
            "--add",
            action="append",
            default=[],
            metavar="JSON",
            help='A new candidate, e.g. \'{"label": "new", "model": "openai/gpt-4.1", '
            '"version": "gpt-4.1-2025-04-14"}\' (repeatable).',
        )
        parser.add_argument(
            "--remove", action="append", default=[], metavar="LABEL", help="Drop a candidate."
        )
        parser.add_argument(
            "--repin",
            action="append",
            default=[],
            metavar="LABEL=VERSION",
            help="Pin a candidate to a new version: its outputs are generated again.",
        )
        parser.add_argument(
            "--generate", action="store_true", help="Queue generation of the new outputs."
        )

    def handle(self, *args, study: str, slug: str, name: str | None, add: list[str],
               remove: list[str], repin: list[str], generate: bool, **options) -> None:  # fmt: skip
        try:
            source = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}") from None
        added = []
        for raw in add:
            try:
                spec = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise CommandError(f"--add {raw!r} is not JSON: {exc}") from None
            if not isinstance(spec, dict):
                raise CommandError(f"--add {raw!r} must be a JSON object")
            added.append(spec)
        repins = {}
        for item in repin:
            label, sep, version = item.partition("=")
            if not sep:
                raise CommandError(f"--repin {item!r} must be LABEL=VERSION")
            repins[label] = version
        try:
            report = study_clone(
                study=source,
                name=name or f"{source.name} ({slug})",
                slug=slug,
                add=added,
                remove=remove,
                repin=repins,
            )
        except CloneError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
        if generate and report.outputs_to_generate:
            try:
                queued = generation_start(study=report.study)
            except GenerationError as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write(self.style.SUCCESS(f"Queued {queued} new outputs for generation"))
