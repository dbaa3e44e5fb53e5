import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from evaluations.generation.errors import GenerationError
from evaluations.models import Study
from research.reevaluation.drift import candidates_drift, drift_check


class Command(BaseCommand):
    help = (
        "Re-ask each pinned candidate a few prompts it already answered and report answers that "
        "changed and served models that differ from the pinned version. Changes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument("--prompts", type=int, default=3, help="Prompts per candidate.")
        parser.add_argument(
            "--candidate", action="append", default=[], help="Only this label (repeatable)."
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")
        parser.add_argument(
            "--fail-on-change",
            action="store_true",
            help="Exit non-zero when an answer or the served model changed (for cron jobs).",
        )

    def handle(self, *args, study: str, prompts: int, candidate: list[str], json: bool,
               fail_on_change: bool, **options) -> None:  # fmt: skip
        if prompts < 1:
            raise CommandError("--prompts must be at least 1")
        try:
            target = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}") from None
        try:
            findings = drift_check(study=target, prompts=prompts, labels=candidate or None)
        except GenerationError as exc:
            raise CommandError(str(exc)) from None
        recorded = candidates_drift(study=target)
        if json:
            rows = [{**asdict(f), "cost_usd": None if f.cost_usd is None else str(f.cost_usd)}
                    for f in findings]  # fmt: skip
            self.stdout.write(json_dumps({"recorded": recorded, "rechecked": rows}))
        else:
            for row in recorded:
                if row["drift"]:
                    self.stdout.write(
                        f"{row['label']}: {row['outputs_version_mismatch']} of "
                        f"{row['outputs_done']} outputs were served by "
                        f"{', '.join(row['served_models'])}, not {row['pinned_version']}"
                    )
            if not findings:
                self.stdout.write("No pinned candidate with answered prompts to re-check.")
            for f in findings:
                if f.error:
                    state = f"ERROR {f.error}"
                elif f.changed or f.version_mismatch:
                    state = "CHANGED" if f.changed else "same answer"
                    if f.version_mismatch:
                        state += f", served {f.served_now} (pinned {f.pinned_version})"
                    state += f", similarity {f.similarity:.2f}"
                else:
                    state = "unchanged"
                self.stdout.write(f"{f.candidate} / {f.prompt}: {state}")
        changed = [f for f in findings if f.changed or f.version_mismatch]
        if fail_on_change and changed:
            raise CommandError(f"{len(changed)} of {len(findings)} re-checked answers changed")


def json_dumps(document: dict) -> str:
    return json.dumps(document, indent=2, allow_nan=False)
