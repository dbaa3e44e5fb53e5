"""Issue 20: a senior rater's verdict as the pair's label in the preference export (API and
command); split pairs, which give no majority record, get one from the verdict."""

import json

from django.core.management import call_command

from raters.models import Adjudication, Membership
from tests.factories import RaterFactory
from tests.preferences.study_data import known_study


def adjudicate(study, pair, choice: str) -> Adjudication:
    senior = RaterFactory()
    Membership.objects.create(rater=senior, study=study, senior=True)
    return Adjudication.objects.create(
        study=study, pair=pair, rater=senior, choice=choice, left_output=pair.output_a
    )


def records(api, study, **params) -> list[dict]:
    response = api.get(f"/api/v1/studies/{study.pk}/preferences.jsonl", params)
    assert response.status_code == 200, response.content
    body = b"".join(response.streaming_content).decode()
    return [json.loads(line) for line in body.split("\n") if line]


def test_the_verdict_labels_its_pair_only_when_asked(api, own_study):
    known = known_study(own_study)
    adjudicate(own_study, known.pairs[0], "b")  # the raters said a, 2 to 1
    adjudicate(own_study, known.pairs[4], "a")  # split 1 to 1: no majority record
    plain = records(api, own_study)
    assert [r["chosen"] for r in plain] == ["alpha answers 0", "gamma answers 1"]
    labelled = records(api, own_study, adjudicated="true", min_agreement="0.9")
    assert "adjudicated" not in plain[0]
    assert [(r["chosen"], r["adjudicated"]) for r in labelled] == [
        ("beta answers 0", True),
        ("gamma answers 1", False),
        ("beta answers 4", True),
    ]
    assert labelled[0]["agreement"] == round(1 / 3, 6)  # the raters who agree with the verdict


def test_the_verdict_needs_the_majority_mode(api, own_study):
    known_study(own_study)
    response = api.get(
        f"/api/v1/studies/{own_study.pk}/preferences.jsonl",
        {"format": "arena", "adjudicated": "true"},
    )
    assert response.status_code == 400
    assert "mode=majority" in response.content.decode()


def test_the_command_takes_the_verdict_too(own_study, tmp_path):
    known = known_study(own_study)
    adjudicate(own_study, known.pairs[4], "b")
    out = tmp_path / "prefs.jsonl"
    call_command("export_preferences", own_study.slug, "--adjudicated", "-o", str(out))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["chosen"] for r in lines][-1] == "gamma answers 4"


def test_the_dataset_zip_keeps_the_verdict_column(api, own_study, tmp_path):
    import io
    import zipfile

    import pyarrow.parquet as pq

    known = known_study(own_study)
    adjudicate(own_study, known.pairs[4], "a")  # the last record: the first has no verdict
    response = api.get(f"/api/v1/studies/{own_study.pk}/preferences.zip", {"adjudicated": "true"})
    assert response.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    table = pq.read_table(io.BytesIO(archive.read("data/train-00000-of-00001.parquet")))
    assert table.column("adjudicated").to_pylist() == [False, False, True]
    assert "adjudicated: True" in archive.read("README.md").decode()
