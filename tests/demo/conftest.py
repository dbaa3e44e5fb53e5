import pytest
from django.core.management import call_command

from evaluations.generation.runner import outputs_generate
from evaluations.models import Output, Study
from evaluations.studies.demo import DEMO_STUDY_SLUG


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def demo_generated() -> Study:
    """`make run`'s seeding (manage.py demo_setup), then the worker's part done in-process:
    every output through LiteLLM and the offline demo provider, pairs built, the study opened."""
    with open("/dev/null", "w") as quiet:
        call_command("demo_setup", stdout=quiet, stderr=quiet)
    study = Study.objects.get(slug=DEMO_STUDY_SLUG)
    ids = list(Output.objects.filter(prompt__study=study).values_list("id", flat=True))
    outputs_generate(output_ids=ids)
    study.refresh_from_db()
    return study
