"""The datasets-loadable zip, `manage.py export_preferences` (same records as the API), and
--push-to-hub against a stand-in Hub on 127.0.0.1."""

import io
import json
import zipfile

import pytest
from datasets import load_dataset
from django.core.management import CommandError, call_command

from tests.preferences.hub_standin import TOKEN, HubStandIn
from tests.preferences.study_data import known_study


def _unzip(data: bytes, folder):
    zipfile.ZipFile(io.BytesIO(data)).extractall(folder)
    return folder


def test_the_zip_loads_with_datasets_and_its_card_says_what_it_holds(api, own_study, tmp_path):
    known_study(own_study)
    response = api.get(f"/api/v1/studies/{own_study.pk}/preferences.zip", {"format": "trl"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    folder = _unzip(response.content, tmp_path / "dataset")
    dataset = load_dataset(str(folder))
    assert list(dataset) == ["train"] and dataset["train"].num_rows == 2
    assert dataset["train"][0]["chosen"] == "alpha answers 0"
    card = (folder / "README.md").read_text()
    assert own_study.question in card
    assert "license: other" in card and "- records: 2" in card
    assert "tie: 1" in card and "both_bad: 1" in card and "no_majority: 1" in card


def test_a_zip_with_no_record_is_refused_with_the_reason(api, own_study):
    known_study(own_study)
    response = api.get(f"/api/v1/studies/{own_study.pk}/preferences.zip", {"min_votes": 50})
    assert response.status_code == 400
    assert "no record matches these options" in response.json()["detail"]


@pytest.mark.parametrize("fmt", ["trl", "trl-kto", "openai-dpo", "rewardbench", "arena"])
def test_the_command_writes_the_records_the_api_gives(api, own_study, tmp_path, fmt):
    known_study(own_study)
    out = tmp_path / "out.jsonl"
    call_command("export_preferences", own_study.slug, "--format", fmt, "-o", str(out))
    response = api.get(f"/api/v1/studies/{own_study.pk}/preferences.jsonl", {"format": fmt})
    from_api = b"".join(response.streaming_content).decode().split("\n")
    from_command = out.read_text().split("\n")
    assert [json.loads(x) for x in from_command if x] == [json.loads(x) for x in from_api if x]


def test_the_command_refuses_bad_options_with_the_apis_message(own_study):
    known_study(own_study)
    with pytest.raises(CommandError, match="ties=keep needs the arena format"):
        call_command("export_preferences", own_study.slug, "--ties", "keep")
    with pytest.raises(CommandError, match="No study with slug"):
        call_command("export_preferences", "nonesuch")


def test_push_to_hub_commits_the_parquet_and_card_to_a_private_dataset(
    own_study, tmp_path, monkeypatch
):
    known_study(own_study)
    with HubStandIn() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        call_command("export_preferences", own_study.slug, "--push-to-hub", "lab/prefs")
        files = hub.repos["lab/prefs"]["files"]
        assert hub.repos["lab/prefs"]["private"] is True
        assert set(files) == {"README.md", "data/train-00000-of-00001.parquet"}
        (tmp_path / "data").mkdir()
        for name, content in files.items():
            (tmp_path / name).write_bytes(content)
        assert load_dataset(str(tmp_path))["train"].num_rows == 2

        monkeypatch.setenv("HF_TOKEN", "hf_wrong")
        with pytest.raises(CommandError, match="the Hub refused the upload"):
            call_command("export_preferences", own_study.slug, "--push-to-hub", "lab/other")
        monkeypatch.delenv("HF_TOKEN")
        with pytest.raises(CommandError, match="needs a Hugging Face token in HF_TOKEN"):
            call_command("export_preferences", own_study.slug, "--push-to-hub", "lab/prefs")
