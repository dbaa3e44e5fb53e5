"""Battle-format vote files into a study: candidates, prompts, answers, external raters and
votes; all or nothing with line numbers; hostile input refused with a reason, never a 500."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluations.generation.starting import outputs_create
from evaluations.models import Candidate, Output, Pair, Prompt
from evaluations.studies.import_rows import ImportFailed
from raters.models import Rater, Vote
from research.preferences.battle_import import votes_import
from tests.factories import PromptFactory, StudyFactory, UserFactory
from tests.preferences.study_data import known_study

HTML = '<img src=x onerror="alert(1)"> **bold** \u202eevil\u202c 𝔘𝔫𝔦 e\u0301'


def _conversation(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def _battle(**fields) -> dict:
    row = {
        "question_id": 1,
        "judge": "arena_user_1",
        "model_a": "model-x",
        "model_b": "model-y",
        "winner": "model_a",
    }
    row.update(fields)
    return row


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _nothing_written(study) -> bool:
    return not (
        Vote.objects.filter(study=study).exists()
        or Candidate.objects.filter(study=study).exists()
        or Prompt.objects.filter(study=study).exists()
        or Pair.objects.filter(study=study).exists()
    )


def test_conversations_become_prompts_answers_imported_candidates_and_external_raters(
    api, own_study
):
    rows = [
        _battle(
            conversation_a=[
                {"role": "system", "content": "Be brief."},
                *_conversation("What is 2+2?", "4"),
            ],
            conversation_b=[
                {"role": "system", "content": "Be brief."},
                *_conversation("What is 2+2?", HTML),
            ],
            tstamp=1_700_000_000.5,
            category="math",
        ),
        _battle(
            model_a="model-y",
            model_b="model-x",
            winner="model_b",
            judge="arena_user_2",
            conversation_a=_conversation("What is 2+2?", HTML),
            conversation_b=_conversation("What is 2+2?", "4"),
            turn=1,
        ),
    ]
    rows[1]["conversation_a"].insert(0, {"role": "system", "content": "Be brief."})
    rows[1]["conversation_b"].insert(0, {"role": "system", "content": "Be brief."})
    rows.append({**rows[0], "judge": "arena_user_3", "winner": "tie (bothbad)", "tstamp": None})
    report = votes_import(study=own_study, data=_jsonl(rows))
    assert (report.votes, report.candidates, report.prompts, report.pairs) == (3, 2, 1, 1)

    prompt = Prompt.objects.get(study=own_study)
    assert (prompt.external_id, prompt.text, prompt.context) == ("1", "What is 2+2?", "Be brief.")
    assert prompt.category == "math"
    assert set(Candidate.objects.filter(study=own_study).values_list("imported", flat=True)) == {
        True
    }
    y = Output.objects.get(prompt=prompt, candidate__label="model-y")
    assert y.raw_text == HTML and y.imported and y.status == Output.Status.DONE
    pair = Pair.objects.get(study=own_study)
    assert pair.load == 3  # the votes count towards the pair's load, as raters' votes do
    first, second, third = Vote.objects.filter(study=own_study).order_by("id")
    assert first.choice == "a" and first.left_output == pair.output_a
    # The second battle shows model-y first and prefers model-x: the pair's a, on the right.
    assert second.choice == "a" and second.left_output == pair.output_b
    assert third.choice == "both_bad"
    assert first.created_at.timestamp() == 1_700_000_000.5
    raters = Rater.objects.filter(memberships__study=own_study)
    assert sorted(raters.values_list("display_name", flat=True)) == [
        "arena_user_1",
        "arena_user_2",
        "arena_user_3",
    ]
    assert not any(r.user.is_active or r.user.has_usable_password() for r in raters)

    records = b"".join(
        api.get(
            f"/api/v1/studies/{own_study.pk}/preferences.jsonl", {"format": "trl"}
        ).streaming_content
    )
    (record,) = [json.loads(line) for line in records.decode().split("\n") if line]
    assert record["prompt"] == "Be brief.\n\nWhat is 2+2?" and record["chosen"] == "4"
    assert record["rejected"] == Output.objects.get(pk=y.pk).text  # scrubbed as raters see it


def test_imported_candidates_are_never_generated(own_study):
    votes_import(study=own_study, data=_jsonl([_battle()]))
    PromptFactory(study=own_study)  # a prompt the imported models never answered
    assert outputs_create(study=own_study) == 0


def test_a_file_with_any_bad_line_writes_nothing_and_names_every_line(own_study):
    rows = [
        json.dumps(_battle()),
        json.dumps(_battle(winner="model_c")),
        "{not json",
        json.dumps(_battle(model_b="model-x")),
        json.dumps({"model_a": "a"}),
        json.dumps(_battle(turn=0)),
        json.dumps(_battle(question_id=[1])),
    ]
    with pytest.raises(ImportFailed) as failure:
        votes_import(study=own_study, data="\n".join(rows).encode())
    errors = failure.value.errors
    assert [e.split(":")[0] for e in errors] == [f"line {n}" for n in range(2, 8)]
    assert "winner 'model_c' is not one of" in errors[0]
    assert "not valid JSON" in errors[1]
    assert "model_a and model_b are both 'model-x'" in errors[2]
    assert "missing field(s) model_b, winner, judge, question_id" in errors[3]
    assert "turn '0' must be a whole number 1-50" in errors[4]
    assert _nothing_written(own_study)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            _jsonl(
                [
                    _battle(
                        conversation_a=_conversation("q", "\ud800"),
                        conversation_b=_conversation("q", "b"),
                    )
                ]
            ),
            "line 1: conversation_a[1].content contains an unpaired surrogate",
        ),
        (_jsonl([_battle(judge="a\u0000b")]), "line 1: a text holds a NUL character"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n", "line 1: not valid JSON"),
        (b"\xff\xfe not utf-8", "the file is not UTF-8 text"),
        (
            b"[\n" + json.dumps(_battle()).encode() + b',\n  {"model_a": oops}\n]',
            "line 3: not valid JSON",
        ),
        (
            b"[\n" + json.dumps(_battle()).encode() + b",\n 7\n]",
            "line 3: expected a JSON object, got int",
        ),
        (_jsonl([_battle(model_a="m" * 101)]), "line 1: model_a is longer than 100 characters"),
        (_jsonl([_battle(tstamp=float("inf"))]).replace(b"Infinity", b"1e999"), "line 1: tstamp"),
        (
            _jsonl([_battle(conversation_a=_conversation("q", "a"))]),
            "conversation_a and conversation_b come together",
        ),
        (
            _jsonl(
                [
                    _battle(
                        conversation_a=_conversation("q1", "a"),
                        conversation_b=_conversation("q2", "b"),
                    )
                ]
            ),
            "have different system or user messages",
        ),
        (
            _jsonl(
                [
                    _battle(
                        conversation_a=_conversation("q", "a"),
                        conversation_b=_conversation("q", "b"),
                    ),
                    _battle(
                        winner="tie",
                        conversation_a=_conversation("other", "a"),
                        conversation_b=_conversation("other", "b"),
                    ),
                ]
            ),
            "line 2: the prompt of question '1' differs from line 1",
        ),
        (
            _jsonl(
                [
                    _battle(
                        turn=1,
                        conversation_a=[*_conversation("q", "a"), *_conversation("q2", "a2")],
                        conversation_b=[*_conversation("q", "b"), *_conversation("q2", "b2")],
                    )
                ]
            ),
            "line 1: turn 1, but the conversations have 2 user turns",
        ),
        (b"   \n", "the file is empty"),
    ],
)
def test_hostile_or_malformed_files_are_refused_with_the_line(own_study, data, message):
    with pytest.raises(ImportFailed) as failure:
        votes_import(study=own_study, data=data)
    assert message in str(failure.value)
    assert _nothing_written(own_study)


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(own_study, settings):
    settings.MAX_IMPORT_BYTES = 1000
    with pytest.raises(ImportFailed, match=r"the file is 2.0 MB \(2,000,000 bytes\)"):
        votes_import(study=own_study, data=b"x" * 1001, size=2_000_000)


def test_importing_the_same_votes_twice_is_refused(own_study):
    data = _jsonl([_battle()])
    votes_import(study=own_study, data=data)
    with pytest.raises(ImportFailed, match="line 1: judge 'arena_user_1' already has a vote"):
        votes_import(study=own_study, data=data)
    assert Vote.objects.filter(study=own_study).count() == 1


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(
        st.dictionaries(st.sampled_from(["role", "content"]), st.text(max_size=4)), max_size=3
    ),
)
rows = st.dictionaries(
    st.sampled_from(
        [
            "model_a",
            "model_b",
            "winner",
            "judge",
            "question_id",
            "turn",
            "tstamp",
            "category",
            "conversation_a",
            "conversation_b",
        ]
    ),
    values,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(rows, min_size=1, max_size=4))
def test_any_file_is_imported_whole_or_refused_with_reasons_never_an_error(own_study, file_rows):
    before = Vote.objects.filter(study=own_study).count()
    data = "\n".join(json.dumps(r, allow_nan=True) for r in file_rows).encode()
    try:
        report = votes_import(study=own_study, data=data)
    except ImportFailed as failure:
        assert all(e.startswith("line ") for e in failure.errors)
        assert Vote.objects.filter(study=own_study).count() == before
    else:
        assert Vote.objects.filter(study=own_study).count() == before + report.votes


def test_an_arena_export_imported_into_a_new_study_ranks_the_same(api, researcher, own_study):
    known_study(own_study)
    body = b"".join(
        api.get(
            f"/api/v1/studies/{own_study.pk}/preferences.jsonl", {"format": "arena"}
        ).streaming_content
    )
    copy = StudyFactory(owner=researcher)
    report = votes_import(study=copy, data=body)
    assert report.votes == 14 and report.pairs == 5
    rankings = [
        api.get(f"/api/v1/studies/{s.pk}/ranking/", {"cluster": "none"}).json()["models"]
        for s in (own_study, copy)
    ]
    assert [(m["model"], round(m["rating"], 6)) for m in rankings[0]] == [
        (m["model"], round(m["rating"], 6)) for m in rankings[1]
    ]


def test_the_command_imports_and_refuses_with_line_numbers(own_study, tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.json"
    good.write_bytes(_jsonl([_battle(), _battle(judge="j2", winner="model_b")]))
    bad.write_text(json.dumps([_battle(), _battle(winner="nobody")], indent=1))
    call_command("import_votes", own_study.slug, str(good))
    assert Vote.objects.filter(study=own_study).count() == 2
    with pytest.raises(CommandError) as failure:
        call_command("import_votes", own_study.slug, str(bad))
    assert "Nothing was imported" in str(failure.value)
    assert "line 9: winner 'nobody'" in str(failure.value)


def test_the_admin_upload_imports_or_shows_each_problem_escaped(researcher, own_study):
    researcher.is_superuser = True
    researcher.save()
    client = Client()
    client.force_login(researcher)
    url = f"/admin/evaluations/study/{own_study.pk}/import-votes/"
    assert client.get(url).status_code == 200
    bad = _jsonl([_battle(winner="<b>x</b>")])
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post(url, {"file": SimpleUploadedFile("v.jsonl", bad)})
    assert response.status_code == 200
    assert b"line 1: winner &#x27;&lt;b&gt;x&lt;/b&gt;&#x27;" in response.content
    assert _nothing_written(own_study)
    response = client.post(url, {"file": SimpleUploadedFile("v.jsonl", _jsonl([_battle()]))})
    assert response.status_code == 302
    assert Vote.objects.filter(study=own_study).count() == 1
    stranger = UserFactory(is_staff=True, is_superuser=False)
    other = Client()
    other.force_login(stranger)
    assert other.post(
        url, {"file": SimpleUploadedFile("v.jsonl", _jsonl([_battle()]))}
    ).status_code in {403, 404}
