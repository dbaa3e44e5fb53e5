import json

from django.core.management.base import BaseCommand, CommandError

from evaluations.models import Judge, Study
from research.judging.results import study_judge_results
from research.judging.runner import judging_start
from research.judging.verdicts import JudgingError


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


class Command(BaseCommand):
    help = (
        "Ask a study's LLM judges about every pair, in both orders. Queues Celery tasks by "
        "default; --inline runs them here. Then prints each judge's agreement with the humans."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("study", help="The study's slug.")
        parser.add_argument(
            "--judge", action="append", default=[], help="Only this judge model (repeatable)."
        )
        parser.add_argument("--retry-failed", action="store_true", help="Retry failed calls.")
        parser.add_argument("--inline", action="store_true", help="Judge here, without Celery.")
        parser.add_argument("--json", action="store_true", help="Print the full results JSON.")

    def handle(self, *args, study: str, judge: list[str], retry_failed: bool, inline: bool,
               json: bool, **options) -> None:  # fmt: skip
        try:
            target = Study.objects.get(slug=study)
        except Study.DoesNotExist:
            raise CommandError(f"No study with slug {study!r}") from None
        judge_ids = None
        if judge:
            found = dict(
                Judge.objects.filter(study=target, model__in=judge).values_list("model", "id")
            )
            missing = sorted(set(judge) - set(found))
            if missing:
                raise CommandError(f"No judge {', '.join(missing)} in {target.slug}")
            judge_ids = list(found.values())
        from celery import current_app as app  # config.celery's app: config imports it first

        # Same tasks, run eagerly in this process: the same code path as a worker.
        eager = app.conf.task_always_eager
        app.conf.task_always_eager = eager or inline
        try:
            queued = judging_start(study=target, judge_ids=judge_ids, retry_failed=retry_failed)
        except JudgingError as exc:
            raise CommandError(str(exc)) from None
        finally:
            app.conf.task_always_eager = eager
        verb = "Made" if inline else "Queued"
        self.stdout.write(self.style.SUCCESS(f"{verb} {queued} judge calls for {target.slug}"))
        self._report(study_judge_results(study=target), as_json=json)

    def _report(self, document: dict, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json_dumps(document))
            return
        for block in document["judges"]:
            progress = block["progress"]
            agreement = block["agreement_with_humans"]
            kappa = agreement["cohen_kappa_vs_majority"].get("kappa")
            cost = block["cost"]["total_usd"]
            self.stdout.write(
                f"{block['model']}: {progress['done']}/{progress['calls']} calls done, "
                f"{progress['failed']} failed, {progress['unparseable']} unparseable; "
                f"position consistency "
                f"{_percent(block['position_consistency']['share'])}; agreement with humans "
                f"{_percent(agreement['percent_agreement']['with_ties'])} "
                f"({_percent(agreement['percent_agreement']['without_ties'])} without ties), "
                f"kappa vs majority {'n/a' if kappa is None else f'{kappa:.2f}'}; "
                f"cost {'n/a' if cost is None else f'${cost:.4f}'}"
            )


def json_dumps(document: dict) -> str:
    return json.dumps(document, indent=2, allow_nan=False)
