"""Each preference format from the API: its fields, its counts against the votes, how
contested each record is, and a round trip through the library that reads it."""

import json
import re

import pytest
from datasets import load_dataset

from evaluations.analysis import votes_read
from raters.models import Membership
from research.results.aggregation import rater_pseudonyms
from tests.preferences.study_data import HOSTILE, known_study

PSEUDONYM = re.compile(r"rater-[0-9a-f]{12}")


def _records(api, study, **params):
    response = api.get(f"/api/v1/studies/{study.pk}/preferences.jsonl", params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/jsonl")
    body = b"".join(response.streaming_content).decode()
    # Records end in "\n" only; str.splitlines would also break at a U+2028 inside a text.
    return [json.loads(line) for line in body.split("\n") if line]


def _load_jsonl(tmp_path, records):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return load_dataset("json", data_files=str(path), split="train")


def test_trl_gives_the_majority_of_each_decisive_pair_with_how_contested_it_was(
    api, own_study, tmp_path
):
    known = known_study(own_study)
    records = _records(api, own_study)
    # Pairs 1 and 2 are decisive; the tie, the both-bad and the split pair give nothing.
    assert [(r["chosen"], r["rejected"]) for r in records] == [
        ("alpha answers 0", "beta answers 0"),
        ("gamma answers 1", "beta answers 1"),
    ]
    first = records[0]
    assert first["prompt"] == known.pairs[0].prompt.text
    assert (first["votes"], first["votes_chosen"], first["votes_rejected"]) == (3, 2, 1)
    assert (first["ties"], first["both_bad"]) == (0, 0)
    assert first["agreement"] == pytest.approx(2 / 3, abs=1e-6)
    assert records[1]["agreement"] == 1.0
    assert first["pair_id"] == known.pairs[0].public_id
    assert isinstance(first["margin_elo"], float)
    expected = rater_pseudonyms(study_id=own_study.pk, rater_ids=[r.pk for r in known.raters])
    assert sorted(first["raters"]) == sorted(expected.values())
    # TRL's documented standard preference form: prompt, chosen, rejected as strings.
    dataset = _load_jsonl(tmp_path, records)
    assert dataset.num_rows == 2
    for row in dataset:
        assert all(isinstance(row[k], str) and row[k] for k in ("prompt", "chosen", "rejected"))


def test_every_vote_mode_gives_one_record_per_decisive_vote(api, own_study):
    known_study(own_study)
    records = _records(api, own_study, mode="every")
    # a/b votes on ordinary pairs: 3 + 3 + 1 + 1 + 2 (gold never counts).
    assert len(records) == 10
    assert all(PSEUDONYM.fullmatch(r["rater"]) for r in records)
    # The minority votes of pairs 1, 3 and 4; the split pair's votes agree at 1/2.
    assert sum(r["agreement"] < 0.5 for r in records) == 3


def test_trl_kto_is_unpaired_and_both_bad_can_become_two_rejected(api, own_study, tmp_path):
    known_study(own_study)
    records = _records(api, own_study, format="trl-kto")
    assert [(r["completion"], r["label"]) for r in records] == [
        ("alpha answers 0", True),
        ("beta answers 0", False),
        ("beta answers 1", False),
        ("gamma answers 1", True),
    ]
    both_bad = _records(api, own_study, format="trl-kto", both_bad="rejected")
    assert [(r["completion"], r["label"]) for r in both_bad[4:]] == [
        ("alpha answers 3", False),
        ("beta answers 3", False),
    ]
    dataset = _load_jsonl(tmp_path, both_bad)
    assert dataset.features["label"].dtype == "bool" and dataset.num_rows == 6


def test_openai_dpo_has_input_messages_and_preferred_outputs(api, own_study, tmp_path):
    known = known_study(own_study)
    records = _records(api, own_study, format="openai-dpo", contested="false")
    assert records[0] == {
        "input": {"messages": [{"role": "user", "content": known.pairs[0].prompt.text}]},
        "preferred_output": [{"role": "assistant", "content": "alpha answers 0"}],
        "non_preferred_output": [{"role": "assistant", "content": "beta answers 0"}],
    }
    assert _load_jsonl(tmp_path, records).num_rows == 2


def test_rewardbench_names_the_models_and_the_subset(api, own_study):
    known_study(own_study)
    records = _records(api, own_study, format="rewardbench")
    assert [(r["chosen_model"], r["rejected_model"], r["subset"]) for r in records] == [
        ("alpha", "beta", "writing"),
        ("gamma", "beta", "math"),
    ]
    assert {"prompt", "chosen", "rejected"} <= set(records[0])


def test_arena_has_every_vote_and_reads_back_as_the_same_votes(api, own_study, tmp_path):
    known_study(own_study)
    records = _records(api, own_study, format="arena")
    assert len(records) == 14  # every vote on an ordinary pair, ties and both-bad included
    winners = [r["winner"] for r in records]
    assert winners.count("tie") == 2 and winners.count("tie (bothbad)") == 2
    assert records[0]["conversation_a"] == [
        {"role": "user", "content": records[0]["conversation_a"][0]["content"]},
        {"role": "assistant", "content": "alpha answers 0"},
    ]
    assert records[0]["turn"] == 1 and isinstance(records[0]["tstamp"], float)
    path = tmp_path / "arena.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    votes = votes_read(path)
    assert len(votes) == 14 and sorted(votes.models) == ["alpha", "beta", "gamma"]


def test_text_with_markup_and_odd_unicode_comes_out_exactly(api, own_study):
    known_study(own_study, hostile_answer=True)
    records = _records(api, own_study, format="arena")
    assert records[0]["conversation_b"][1]["content"] == HOSTILE


@pytest.mark.parametrize(
    ("params", "pair_ids"),
    [
        ({"min_votes": 3}, [0, 1, 2, 3]),
        ({"min_agreement": 0.9}, [1]),
        ({"category": "math"}, [1, 3]),
    ],
)
def test_minimum_votes_agreement_and_category_choose_the_pairs(api, own_study, params, pair_ids):
    known = known_study(own_study)
    records = _records(api, own_study, format="arena", mode="majority", **params)
    # The arena format keeps ties and both-bad: only the split pair has no majority.
    assert [r["pair_id"] for r in records] == [known.pairs[k].public_id for k in pair_ids]


def test_excluded_raters_by_pseudonym_id_or_flag_leave_their_votes_out(api, own_study):
    known = known_study(own_study)
    third = known.raters[2]
    name = rater_pseudonyms(study_id=own_study.pk, rater_ids=[third.pk])[third.pk]
    for params in ({"exclude_raters": [name]}, {"exclude_raters": [str(third.pk)]}):
        records = _records(api, own_study, format="arena", **params)
        # The third rater voted on four ordinary pairs.
        assert len(records) == 10 and name not in {r["rater"] for r in records}
    Membership.objects.filter(study=own_study, rater=third).update(flagged=True)
    assert len(_records(api, own_study, format="arena", exclude_flagged="true")) == 10
    # Without the third rater, the first pair is unanimous.
    trl = _records(api, own_study, exclude_raters=[name])
    assert trl[0]["agreement"] == 1.0 and trl[0]["votes"] == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ties": "keep"}, "ties=keep needs the arena format"),
        ({"both_bad": "rejected"}, "needs the unpaired trl-kto format"),
        ({"category": "nonesuch"}, "no prompt of this study has category 'nonesuch'"),
        ({"exclude_raters": ["rater-000000000000"]}, "no rater rater-000000000000"),
        ({"exclude_raters": ["<b>"]}, "takes rater ids or pseudonyms"),
        ({"format": "csv"}, "is not a valid choice"),
        ({"min_agreement": "2"}, "less than or equal to 1"),
    ],
)
def test_options_that_cannot_be_met_are_refused_with_a_reason(api, own_study, params, message):
    known_study(own_study)
    response = api.get(f"/api/v1/studies/{own_study.pk}/preferences.jsonl", params)
    assert response.status_code == 400
    assert message in json.dumps(response.json())


def test_the_schema_documents_the_preference_exports(api):
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    jsonl = schema["paths"]["/api/v1/studies/{study_id}/preferences.jsonl"]["get"]
    assert "application/jsonl" in jsonl["responses"]["200"]["content"]
    names = {p["name"] for p in jsonl["parameters"]}
    assert {"format", "mode", "ties", "both_bad", "min_votes", "min_agreement"} <= names
    assert "/api/v1/studies/{study_id}/preferences.zip" in schema["paths"]


def test_another_researchers_study_is_answered_as_missing(api, researcher):
    from tests.factories import StudyFactory

    theirs = StudyFactory()
    known_study(theirs)
    for suffix in ("preferences.jsonl", "preferences.zip"):
        mine = api.get(f"/api/v1/studies/{theirs.pk}/{suffix}")
        missing = api.get(f"/api/v1/studies/{10**9}/{suffix}")
        assert mine.status_code == missing.status_code == 404
        assert mine.content == missing.content
