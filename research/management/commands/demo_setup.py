from django.conf import settings
from django.core.management.base import BaseCommand

from evaluations.generation.errors import GenerationError
from evaluations.generation.starting import generation_start
from evaluations.studies.demo import DEMO_ADMIN_PASSWORD, DEMO_ADMIN_USERNAME, demo_setup
from raters.invites import invite_for_demo, invite_path
from research.decision.demo import demo_decision_setup


class Command(BaseCommand):
    help = "Create the demo admin account and the demo study (idempotent)."

    def handle(self, *args, **options) -> None:
        study = demo_setup()
        decision_demo = demo_decision_setup(owner=study.owner)
        try:
            # Through Celery and LiteLLM like any study; the demo models run offline.
            queued = generation_start(study=study)
        except GenerationError as exc:
            self.stderr.write(f"  Demo generation not started: {exc}")
        else:
            if queued:
                self.stdout.write(f"  Queued {queued} demo outputs for the Celery worker.")
        base = settings.SITE_URL.rstrip("/")
        self.stdout.write(
            "\n"
            f"  tastetest is starting at {base}/\n"
            f"  Admin:       {base}/admin/  (user {DEMO_ADMIN_USERNAME!r}, "
            f"password {DEMO_ADMIN_PASSWORD!r})\n"
            f"  Demo study:  {base}/admin/evaluations/study/{study.pk}/change/\n"
            f"  A decision (simulated votes): "
            f"{base}/admin/evaluations/study/{decision_demo.pk}/decision/\n"
            f"  Rater invite (open it to vote as a demo rater):\n"
            f"               {base}{invite_path(invite_for_demo(study=study))}\n"
        )
