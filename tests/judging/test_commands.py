import json

import pytest
from django.core.management import CommandError, call_command

from evaluations.models import JudgeVote, Study

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(request):
    from config.celery import app

    app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(app.conf, "task_always_eager", False))


def test_judge_command_runs_the_judges_and_prints_their_agreement(
    judged_study, stub_judge, judge_stub, eager, capsys, django_capture_on_commit_callbacks
):
    stub_judge(judged_study, "fair")
    stub_judge(judged_study, "biased")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("judge", judged_study.slug, "--judge", "openai/biased", "--inline")
    assert "Made 6 judge calls" in capsys.readouterr().out
    # Inside a test transaction the calls ran when the block ended, after the first report.
    call_command("judge", judged_study.slug, "--judge", "openai/biased", "--inline")
    out = capsys.readouterr().out
    assert "Made 0 judge calls" in out
    assert "openai/biased: 6/6 calls done" in out and "position consistency 0.0%" in out
    assert "openai/fair: 0/0 calls done" in out
    assert JudgeVote.objects.filter(judge__model="openai/fair").count() == 0
    call_command("judge", judged_study.slug, "--json")
    document = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert [j["model"] for j in document["judges"]] == ["openai/fair", "openai/biased"]


def test_judge_command_names_an_unknown_judge(judged_study):
    with pytest.raises(CommandError, match="No judge openai/nobody"):
        call_command("judge", judged_study.slug, "--judge", "openai/nobody")


def test_clone_command_reports_what_it_reused(judged_study, capsys):
    call_command(
        "clone_study",
        judged_study.slug,
        "--slug",
        "weak-v2",
        "--repin",
        "weak=v2",
        "--add",
        '{"label": "new", "model": "demo/concise"}',
    )
    report = json.loads(capsys.readouterr().out)
    assert report["outputs_reused"] == 3 and report["outputs_to_generate"] == 6
    assert report["repinned"] == ["weak"] and report["added"] == ["new"]
    assert Study.objects.get(slug="weak-v2").candidates.count() == 3
    with pytest.raises(CommandError, match="LABEL=VERSION"):
        call_command("clone_study", judged_study.slug, "--slug", "x", "--repin", "weak")
