"""Issue 16, through to the results: per-turn votes ranked per turn and overall (API, results
page, the category filter as before), the battle export's turn and conversation_a/b, outputs
exports with every turn, and the battle import of turn 2 and later with conversations."""

import csv
import io
import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from evaluations.models import Output, Prompt
from raters.assignment import assignment_next
from raters.models import Vote
from raters.voting import vote_record
from research.preferences.battle_import import votes_import
from tests.factories import UserFactory
from tests.raters.conftest import join
from tests.raters.test_turn_votes import TURNS, scripted_study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()


def _vote_all_turns(study, raters: int = 3) -> None:
    """Every rater votes every pair on every turn: on turn 1 the lower-numbered candidate wins,
    on turns 2 and 3 the higher-numbered one does (the first rater's votes on Cand-0 against
    Cand-2 the other way, so that no turn's votes are separated)."""
    for r in range(raters):
        rater = join(study)
        while (assignment := assignment_next(rater=rater, study=study)) is not None:
            pair = assignment.pair
            label_of = {pair.output_a_id: "a", pair.output_b_id: "b"}
            left_is_a = label_of[assignment.left_output_id] == "a"
            a_number = pair.output_a.candidate.label
            b_number = pair.output_b.candidate.label
            for turn in (1, 2, 3):
                a_better = (a_number < b_number) == (turn == 1)
                if r == 0 and {a_number, b_number} == {"Cand-0", "Cand-2"}:
                    a_better = not a_better  # one upset in three on the widest gap
                side = "A" if a_better == left_is_a else "B"
                vote_record(
                    rater=rater, study=study, public_id=pair.public_id, side_choice=side, turn=turn
                )


@pytest.fixture
def owner():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def voted(owner):
    study = scripted_study(n_prompts=3, n_candidates=3, votes_per_pair=3, owner=owner)
    _vote_all_turns(study)
    return study


@pytest.fixture
def api(owner) -> APIClient:
    client = APIClient()
    client.force_authenticate(owner)
    return client


def test_the_ranking_api_ranks_each_turn_and_overall(api, voted):
    assert Vote.objects.filter(study=voted).count() == 9 * 3 * 3
    document = api.get(f"/api/v1/studies/{voted.pk}/ranking/").json()
    assert list(document["turns"]) == ["1", "2", "3"]
    first = [m["model"] for m in document["turns"]["1"]["models"]]
    second = [m["model"] for m in document["turns"]["2"]["models"]]
    assert first == ["Cand-0", "Cand-1", "Cand-2"] and second == ["Cand-2", "Cand-1", "Cand-0"]
    assert document["turns"]["1"]["votes"] == 27
    turn2 = api.get(f"/api/v1/studies/{voted.pk}/ranking/", {"turn": 2}).json()
    assert turn2["summary"]["votes"] == 27 and turn2["summary"]["turn"] == "2"
    assert [m["model"] for m in turn2["models"]] == second
    assert [m["rating"] for m in turn2["models"]] == pytest.approx(
        [m["rating"] for m in document["turns"]["2"]["models"]], abs=1e-6
    )
    both = api.get(
        f"/api/v1/studies/{voted.pk}/ranking/", {"turn": 1, "category": "writing"}
    ).json()
    assert both["summary"]["votes"] == 27 and both["summary"]["category"] == "writing"
    refused = api.get(f"/api/v1/studies/{voted.pk}/ranking/", {"turn": 7})
    assert refused.status_code == 400
    assert "turn '7' not in the votes" in json.dumps(refused.json())


def test_the_results_page_shows_the_ranking_per_turn(client, owner, voted):
    client.force_login(owner)
    page = client.get(f"/admin/evaluations/study/{voted.pk}/results/").content.decode()
    assert "By turn" in page
    for turn in (1, 2, 3):
        assert f"Turn {turn} (27)" in page


def test_the_battle_export_carries_the_turn_and_each_models_own_conversation(api, voted):
    rows = [
        json.loads(line)
        for line in b"".join(
            api.get(f"/api/v1/studies/{voted.pk}/votes.jsonl").streaming_content
        ).splitlines()
    ]
    assert sorted({row["turn"] for row in rows}) == [1, 2, 3]
    row = next(r for r in rows if r["turn"] == 2)
    number_a = row["model_a"].split("-")[1]
    number_b = row["model_b"].split("-")[1]
    question = row["question_id"]
    assert row["conversation_a"] == [
        {"role": "user", "content": TURNS[0]},
        {"role": "assistant", "content": f"Reply 1 number {number_a} to {question}"},
        {"role": "user", "content": TURNS[1]},
        {"role": "assistant", "content": f"Reply 2 number {number_a} to {question}"},
    ]
    assert row["conversation_b"][-1]["content"] == f"Reply 2 number {number_b} to {question}"
    assert row["conversation_b"][1]["content"] == f"Reply 1 number {number_b} to {question}"
    text = b"".join(api.get(f"/api/v1/studies/{voted.pk}/votes.csv").streaming_content).decode()
    first = next(csv.DictReader(io.StringIO(text)))
    assert json.loads(first["conversation_a"])[0] == {"role": "user", "content": TURNS[0]}
    assert first["turn"] in {"1", "2", "3"}
    page = api.get(f"/api/v1/studies/{voted.pk}/votes/").json()
    assert len(page["results"][0]["conversation_b"]) in (2, 4, 6)


def test_the_arena_preference_export_keeps_turns_and_trainer_formats_skip_differing_histories(
    api, voted
):
    def records(fmt: str) -> list[dict]:
        body = b"".join(
            api.get(
                f"/api/v1/studies/{voted.pk}/preferences.jsonl", {"format": fmt}
            ).streaming_content
        )
        return [json.loads(line) for line in body.splitlines() if line]

    arena = records("arena")
    assert sorted({r["turn"] for r in arena}) == [1, 2, 3]
    third = next(r for r in arena if r["turn"] == 3)
    assert len(third["conversation_a"]) == 6 and third["conversation_a"][4]["content"] == TURNS[2]
    trl = records("trl")
    assert trl and all(r["prompt"] == TURNS[0] for r in trl)  # turn 1 only: shared history


def test_the_outputs_export_carries_every_turn(api, voted):
    rows = [
        json.loads(line)
        for line in b"".join(
            api.get(f"/api/v1/studies/{voted.pk}/outputs.jsonl").streaming_content
        ).splitlines()
    ]
    row = rows[0]
    assert [t["turn"] for t in row["turns"]] == [1, 2, 3]
    assert row["turns"][2]["text"].startswith("Reply 3 number")
    assert [m["role"] for m in row["conversation"]] == ["user", "assistant"] * 3
    assert "raw_text" not in row["turns"][0]


def _mtbench_row(turn: int, judge: str, winner: str) -> dict:
    def conversation(model: str) -> list[dict]:
        messages = [{"role": "system", "content": "You are helpful."}]
        for k in range(turn):
            messages.append({"role": "user", "content": ["Name a colour.", "Another one?"][k]})
            answer = f"{'Teal' if model == 'gpt-4' else 'Rust'} shade {k + 1}"
            messages.append({"role": "assistant", "content": answer})
        return messages

    return {
        "question_id": 81,
        "model_a": "gpt-4",
        "model_b": "vicuna-13b",
        "winner": winner,
        "judge": judge,
        "turn": turn,
        "conversation_a": conversation("gpt-4"),
        "conversation_b": conversation("vicuna-13b"),
    }


def test_the_battle_import_takes_second_turns_with_their_conversations(api, owner):
    from tests.factories import StudyFactory

    study = StudyFactory(owner=owner)
    rows = [
        _mtbench_row(1, "expert_1", "model_a"),
        _mtbench_row(2, "expert_1", "model_b"),
        _mtbench_row(2, "expert_2", "tie"),
    ]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    report = votes_import(study=study, data=data)
    assert report.votes == 3 and report.pairs == 1
    prompt = Prompt.objects.get(study=study)
    assert prompt.turns == ["Name a colour.", "Another one?"]
    assert prompt.messages[0]["role"] == "system"
    gpt4 = Output.objects.get(prompt=prompt, candidate__label="gpt-4")
    assert [t["raw_text"] for t in gpt4.turns] == ["Teal shade 1", "Teal shade 2"]
    assert sorted(Vote.objects.values_list("turn", flat=True)) == [1, 2, 2]
    exported = [
        json.loads(line)
        for line in b"".join(
            api.get(f"/api/v1/studies/{study.pk}/votes.jsonl").streaming_content
        ).splitlines()
    ]
    by_judge_turn = {(r["turn"], r["winner"]): r for r in exported}
    second = by_judge_turn[(2, "model_b")]
    assert second["conversation_a"] == rows[1]["conversation_a"]
    assert second["conversation_b"] == rows[1]["conversation_b"]
    first = by_judge_turn[(1, "model_a")]
    assert first["conversation_a"] == rows[0]["conversation_a"]
    # A second import of the same votes is refused: each judge voted each turn once.
    from evaluations.studies.import_rows import ImportFailed

    with pytest.raises(ImportFailed, match="already has a vote on this pair"):
        votes_import(study=study, data=data)


def test_rows_of_one_question_must_agree_on_the_turns_they_share(owner):
    from evaluations.studies.import_rows import ImportFailed
    from tests.factories import StudyFactory

    study = StudyFactory(owner=owner)
    other = _mtbench_row(2, "expert_2", "tie")
    other["conversation_a"][1]["content"] = "Name a shape."
    other["conversation_b"][1]["content"] = "Name a shape."
    data = "".join(
        json.dumps(r) + "\n" for r in (_mtbench_row(1, "expert_1", "model_a"), other)
    ).encode()
    with pytest.raises(ImportFailed) as failure:
        votes_import(study=study, data=data)
    assert "line 2: the prompt of question '81' differs from line 1" in str(failure.value)
    assert not Vote.objects.filter(study=study).exists()
