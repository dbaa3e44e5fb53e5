import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from evaluations.models import Prompt
from evaluations.studies.import_rows import ImportFailed
from evaluations.studies.importing import prompts_import
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

GOOD_CSV = (
    b"id,text,category,context,reference\n"
    b'q1,"What is 2+2?",math,,4\n'
    b'q2,"Explain, in one line, recursion.",cs,"Audience: students",\n'
    b'q3,"Multi\nline prompt",cs,,\n'
)


def jsonl(*rows: dict) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def test_csv_import_creates_every_prompt(study):
    assert prompts_import(study=study, data=GOOD_CSV, filename="p.csv") == 3
    q2 = Prompt.objects.get(study=study, external_id="q2")
    assert q2.text == "Explain, in one line, recursion."
    assert q2.category == "cs"
    assert q2.context == "Audience: students"
    assert Prompt.objects.get(external_id="q3").text == "Multi\nline prompt"
    assert Prompt.objects.get(external_id="q1").reference == "4"


def test_jsonl_import_creates_every_prompt(study):
    data = jsonl(
        {"id": "a", "text": "One", "category": "x"},
        {"id": 2, "text": "Two"},
    )
    assert prompts_import(study=study, data=data, filename="p.jsonl") == 2
    assert set(Prompt.objects.values_list("external_id", flat=True)) == {"a", "2"}


def test_csv_with_semicolons_and_bom_is_read(study):
    data = "\ufeffid;text\nq1;Hello there\n".encode()
    assert prompts_import(study=study, data=data, filename="p.csv") == 1


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"id,category\nq1,x\n", "p.csv", "line 1: missing column(s) text"),
        (b"id,text\nq1,ok\nq2,   \n", "p.csv", "line 3: empty text"),
        (b"id,text\nq1,ok\nq1,again\n", "p.csv", "line 3: duplicate id 'q1' (first on line 2)"),
        (b"id,text\nq1,ok\n,no id\n", "p.csv", "line 3: empty id"),
        (b"id,text\nq1,caf\xe9\n", "p.csv", "line 2: the file is not UTF-8"),
        (b"", "p.csv", "line 1: the file is empty"),
        (b"id,text\n", "p.csv", "line 1: the file has a header but no rows"),
        (
            b'{"id": "q1", "text": "ok"}\n{"id": "q2", "text": \n',
            "p.jsonl",
            "line 2: not valid JSON",
        ),
        (b'{"id": "q1", "text": "ok"}\n[1, 2]\n', "p.jsonl", "line 2: expected a JSON object"),
        (b'{"id": "q1"}\n', "p.jsonl", "line 1: missing field(s) text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "p.png", "not UTF-8"),
        (b"id,text\nq1,ok,extra\n", "p.csv", "line 2: more values than columns"),
    ],
)
def test_bad_file_is_refused_with_line_number_and_writes_nothing(study, data, filename, message):
    with pytest.raises(ImportFailed) as caught:
        prompts_import(study=study, data=data, filename=filename)
    assert message in str(caught.value)
    assert Prompt.objects.count() == 0


def test_all_errors_are_reported_not_just_the_first(study):
    data = b"id,text\nq1,\nq1,ok\nq3,\n"
    with pytest.raises(ImportFailed) as caught:
        prompts_import(study=study, data=data, filename="p.csv")
    assert caught.value.errors == [
        "line 2: empty text",
        "line 3: duplicate id 'q1' (first on line 2)",
        "line 4: empty text",
    ]


def test_file_over_the_size_limit_is_refused(study, settings):
    settings.MAX_IMPORT_BYTES = 1000
    data = b"id,text\n" + b"".join(f"q{i},{'x' * 50}\n".encode() for i in range(100))
    with pytest.raises(ImportFailed, match="the limit is"):
        prompts_import(study=study, data=data, filename="p.csv")
    assert Prompt.objects.count() == 0


def test_a_50_megabyte_file_is_refused(study):
    row = b"q,%s\n" % (b"x" * 1000)
    data = b"id,text\n" + row * 50_000
    with pytest.raises(
        ImportFailed, match=r"is 50.2 MB \(50,150,008 bytes\); the limit is 20.0 MB"
    ):
        prompts_import(study=study, data=data, filename="big.csv")
    assert Prompt.objects.count() == 0


def test_id_already_in_the_study_is_refused(study):
    PromptFactory(study=study, external_id="q1")
    with pytest.raises(ImportFailed, match="line 2: id 'q1' already exists"):
        prompts_import(study=study, data=b"id,text\nq1,again\nq2,new\n", filename="p.csv")
    assert Prompt.objects.filter(study=study).count() == 1


def test_management_command_imports_and_reports_errors(study, tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_bytes(jsonl({"id": "q1", "text": "hi"}))
    call_command("import_prompts", study.slug, str(good))
    assert Prompt.objects.filter(study=study).count() == 1
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"id,text\nq9,\n")
    with pytest.raises(CommandError, match="line 2: empty text"):
        call_command("import_prompts", study.slug, str(bad))
    with pytest.raises(CommandError, match="No study"):
        call_command("import_prompts", "nope", str(good))


def test_admin_upload_imports_prompts(client, staff_user, study):
    client.force_login(staff_user)
    url = reverse("admin:evaluations_study_import_prompts", args=[study.pk])
    assert client.get(url).status_code == 200
    upload = SimpleUploadedFile("p.csv", GOOD_CSV, content_type="text/csv")
    response = client.post(url, {"file": upload})
    assert response.status_code == 302
    assert Prompt.objects.filter(study=study).count() == 3


def test_admin_upload_shows_line_numbered_errors_and_saves_nothing(client, staff_user, study):
    client.force_login(staff_user)
    url = reverse("admin:evaluations_study_import_prompts", args=[study.pk])
    upload = SimpleUploadedFile("p.csv", b"id,text\nq1,ok\nq1,dup\n", content_type="text/csv")
    response = client.post(url, {"file": upload})
    assert response.status_code == 200
    assert "line 3: duplicate id" in response.content.decode()
    assert "Nothing was imported" in response.content.decode()
    assert Prompt.objects.count() == 0


def test_non_staff_cannot_reach_the_import_page(client, study):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    url = reverse("admin:evaluations_study_import_prompts", args=[study.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
