"""An output's style features are stored with its text, and results read them, not the texts."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext

from evaluations.analysis.style import text_style_features
from evaluations.anonymity.identity_review import study_outputs_rescrub
from evaluations.models import Output
from evaluations.output_style import STYLE_COLUMNS, outputs_style_fill
from evaluations.studies.importing import outputs_import
from research.results.aggregation import study_vote_arrays_detailed
from research.results.exports import study_votes_values, vote_rows
from tests.factories import CandidateFactory, OutputFactory, PromptFactory

pytestmark = pytest.mark.django_db

MARKDOWN = "# Title\n\n- one\n- two\n1. three\n\nSome **bold** and __more__ text."


def stored_features(output: Output) -> dict[str, float]:
    output.refresh_from_db()
    return {name: float(getattr(output, column)) for name, column in STYLE_COLUMNS.items()}


def test_a_saved_output_stores_the_style_features_of_its_text(study):
    output = OutputFactory(prompt=PromptFactory(study=study), text=MARKDOWN)
    assert stored_features(output) == text_style_features(MARKDOWN)
    output.text = "plain"
    output.save(update_fields=["text"])
    assert stored_features(output) == text_style_features("plain")


def test_imported_and_rescrubbed_outputs_store_the_features_of_what_raters_see(study):
    PromptFactory(study=study, external_id="q1")
    candidate = CandidateFactory(study=study, label="Ours", model="openai/gpt-4o")
    data = b'prompt_id,model,output\nq1,openai/gpt-4o,"# Hi\n\n- **a**\n- b"\n'
    assert outputs_import(study=study, data=data, filename="o.csv") == 1
    output = Output.objects.get(candidate=candidate)
    assert stored_features(output) == text_style_features(output.text)
    assert stored_features(output)["lists"] == 2
    # A rescrub rewrites the text with a queryset update: the features follow it.
    Output.objects.filter(pk=output.pk).update(raw_text="I am gpt-4o. " + MARKDOWN)
    study_outputs_rescrub(study=study)
    output.refresh_from_db()
    assert output.text.startswith("I am [model]")
    assert stored_features(output) == text_style_features(output.text)


def test_outputs_written_without_features_get_them_before_results_read_them(study):
    output = OutputFactory(prompt=PromptFactory(study=study), text=MARKDOWN)
    Output.objects.filter(pk=output.pk).update(**dict.fromkeys(STYLE_COLUMNS.values()))
    assert outputs_style_fill(Output.objects.filter(candidate__study=study)) == 1
    assert stored_features(output) == text_style_features(MARKDOWN)
    assert outputs_style_fill(Output.objects.filter(candidate__study=study)) == 0


def test_the_migration_backfills_every_existing_output(study):
    outputs = [
        OutputFactory(prompt=PromptFactory(study=study), text=text)
        for text in (MARKDOWN, "", "short")
    ]
    Output.objects.update(**dict.fromkeys(STYLE_COLUMNS.values()))
    migration = importlib.import_module(
        "evaluations.migrations.0012_resfast_output_style_and_result_snapshots"
    )
    migration.backfill_style(apps, SimpleNamespace(connection=connection))
    for output in outputs:
        assert stored_features(output) == text_style_features(output.text)


def test_results_read_per_vote_arrays_and_exports_without_reading_text_per_vote(voted_study):
    values = list(study_votes_values(study=voted_study))
    with CaptureQueriesContext(connection) as queries:
        votes = study_vote_arrays_detailed(study=voted_study, excluded_raters=[])
        rows = list(vote_rows(study=voted_study, values=values))
        streamed = list(vote_rows(study=voted_study, values=iter(values)))
    read_text = [q["sql"] for q in queries.captured_queries if '"text"' in q["sql"]]
    # Only the exports' conversations (issue 16) read texts: the prompts and the outputs once
    # per export, whatever the number of votes; the style features never do.
    assert len(read_text) == 4
    # The stored features are the texts' own, vote by vote.
    texts = dict(Output.objects.filter(candidate__study=voted_study).values_list("id", "text"))
    expected = []
    for vote, row in zip(values, rows, strict=True):
        features_a, features_b = (
            text_style_features(texts[vote[7]]),
            text_style_features(texts[vote[13]]),
        )
        for name in features_a:
            assert (row[f"{name}_a"], row[f"{name}_b"]) == (features_a[name], features_b[name])
        expected.append(tuple(features_a.values()) + tuple(features_b.values()))
    names = list(votes.features)
    got = zip(
        *[votes.features[n][0] for n in names], *[votes.features[n][1] for n in names], strict=True
    )
    assert sorted(expected) == sorted(tuple(float(x) for x in g) for g in got)
    assert sorted(zip(votes.length_a.tolist(), votes.length_b.tolist(), strict=True)) == sorted(
        (e[0], e[len(names)]) for e in expected
    )
    assert streamed == rows
