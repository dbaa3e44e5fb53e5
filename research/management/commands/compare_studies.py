import json

from django.core.management.base import BaseCommand, CommandError

from evaluations.models import Study
from research.reevaluation.comparing import CompareError, studies_compare


def _fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


class Command(BaseCommand):
    help = (
        "Compare the human rankings of two studies of the same prompts: ratings side by side "
        "with 95% intervals, and which differences are significant (z-test, Holm-corrected)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("study_a", help="Slug of the first (e.g. older) study.")
        parser.add_argument("study_b", help="Slug of the second study.")
        parser.add_argument("--anchor", help="Put both on this model's rating (default: centred).")
        parser.add_argument("--json", action="store_true", help="Print the full JSON document.")

    def handle(self, *args, study_a: str, study_b: str, anchor: str | None, json: bool,
               **options) -> None:  # fmt: skip
        studies = {s.slug: s for s in Study.objects.filter(slug__in=[study_a, study_b])}
        missing = [slug for slug in (study_a, study_b) if slug not in studies]
        if missing:
            raise CommandError(f"No study with slug {', '.join(map(repr, missing))}")
        try:
            document = studies_compare(
                study_a=studies[study_a], study_b=studies[study_b], anchor=anchor
            )
        except CompareError as exc:
            raise CommandError(str(exc)) from None
        if json:
            self.stdout.write(json_dumps(document))
            return
        self.stdout.write(f"{document['shared_prompts']} shared prompts; {document['reference']}")
        self.stdout.write(f"{'model':<24} {study_a:>22} {study_b:>22} {'diff':>7} {'p (Holm)':>9}")
        for row in document["models"]:
            cells = []
            for side in (row["a"], row["b"]):
                cells.append(
                    "-"
                    if side is None
                    else f"{side['rating']:.0f} [{side['ci_low']:.0f}, {side['ci_high']:.0f}]"
                )
            mark = " *" if row["significant"] else ""
            self.stdout.write(
                f"{row['model']:<24} {cells[0]:>22} {cells[1]:>22} "
                f"{_fmt(row['difference'], '+.0f'):>7} {_fmt(row['p_value_holm'], '.3f'):>9}{mark}"
            )
        for warning in document["warnings"]:
            self.stderr.write(f"warning: {warning}")


def json_dumps(document: dict) -> str:
    return json.dumps(document, indent=2, allow_nan=False)
