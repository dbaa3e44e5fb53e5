"""Importing prompts that are conversations: messages, scripted turns, images and documents."""

import hashlib

import pytest

from evaluations.models import Prompt, PromptMedia
from evaluations.studies.import_rows import ImportFailed
from evaluations.studies.importing import prompts_import
from tests.conversations.conftest import data_url, jsonl, png_bytes, zipped

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def test_a_fixed_history_is_stored_as_messages_of_parts(study):
    row = {
        "id": "m1",
        "category": "assist",
        "reference": "Paris",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Capital of Italy?"},
            {"role": "assistant", "content": "Rome."},
            {"role": "user", "content": [{"type": "text", "text": "And of France?"}]},
        ],
    }
    assert prompts_import(study=study, data=jsonl(row), filename="p.jsonl") == 1
    prompt = Prompt.objects.get(external_id="m1")
    assert prompt.messages == [
        {"role": "system", "content": [{"type": "text", "text": "You are terse."}]},
        {"role": "user", "content": [{"type": "text", "text": "Capital of Italy?"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Rome."}]},
        {"role": "user", "content": [{"type": "text", "text": "And of France?"}]},
    ]
    assert prompt.turns == []
    assert prompt.text == "And of France?"
    assert (prompt.category, prompt.reference) == ("assist", "Paris")


def test_scripted_turns_in_mt_bench_format_keep_their_order_and_system(study):
    row = {"id": "q81", "category": "writing", "turns": ["Write a poem.", "Now shorter."]}
    other = {"id": "q82", "turns": ["Hi"], "system": "Be kind."}
    prompts_import(study=study, data=jsonl(row, other), filename="mt.jsonl")
    q81 = Prompt.objects.get(external_id="q81")
    assert q81.turns == ["Write a poem.", "Now shorter."]
    assert q81.messages == []
    assert q81.text == "Write a poem."
    assert Prompt.objects.get(external_id="q82").messages == [
        {"role": "system", "content": [{"type": "text", "text": "Be kind."}]}
    ]


def test_todays_text_lines_still_import_beside_conversations(study):
    data = jsonl({"id": "t", "text": "plain"}, {"id": "c", "turns": ["a", "b"]})
    assert prompts_import(study=study, data=data, filename="p.jsonl") == 2
    assert Prompt.objects.get(external_id="t").messages == []


def test_an_image_as_a_data_url_is_stored_once_by_its_hash(study):
    image = png_bytes()
    part = {"type": "image_url", "image_url": {"url": data_url(image)}}
    rows = [
        {
            "id": f"i{n}",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, part]}],
        }
        for n in range(2)
    ]
    prompts_import(study=study, data=jsonl(*rows), filename="p.jsonl")
    digest = hashlib.sha256(image).hexdigest()
    media = PromptMedia.objects.get(study=study)
    assert (media.sha256, media.content_type, media.size) == (digest, "image/png", len(image))
    assert media.file.read() == image
    assert Prompt.objects.get(external_id="i1").messages[0]["content"][1] == {
        "type": "image",
        "media": digest,
        "content_type": "image/png",
    }


def test_images_and_documents_come_from_the_zip_next_to_the_jsonl(study):
    image, chart = png_bytes("blue"), png_bytes("green")
    row = {
        "id": "v1",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Read the chart and the contract."},
                    {"type": "image_url", "image_url": {"url": "img/chart.png"}},
                    {"type": "image_url", "image_url": "photo.png"},
                    {"type": "file", "file": {"filename": "docs/contract.pdf"}},
                    {"type": "file", "file": {"filename": "notes.txt"}},
                ],
            }
        ],
    }
    archive = zipped(
        {
            "set/prompts.jsonl": jsonl(row),
            "set/img/chart.png": chart,
            "set/photo.png": image,
            "set/docs/contract.pdf": PDF,
            "set/notes.txt": b"clause 1\n",
        }
    )
    assert prompts_import(study=study, data=archive, filename="prompts.zip") == 1
    parts = Prompt.objects.get(external_id="v1").messages[0]["content"]
    assert [p["type"] for p in parts] == ["text", "image", "image", "file", "file"]
    assert parts[3]["filename"] == "docs/contract.pdf"
    types = dict(PromptMedia.objects.values_list("filename", "content_type"))
    assert types == {
        "img/chart.png": "image/png",
        "photo.png": "image/png",
        "docs/contract.pdf": "application/pdf",
        "notes.txt": "text/plain",
    }


def user(*parts) -> list[dict]:
    return [{"role": "user", "content": list(parts)}]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"id": "a", "messages": [{"role": "tool", "content": "x"}]},
            "line 1: message 1: unknown role 'tool'; use system, user or assistant",
        ),
        (
            {
                "id": "a",
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": "y"},
                ],
            },
            "line 1: the last message must be the user's",
        ),
        (
            {
                "id": "a",
                "messages": [{"role": "user", "content": "x"}, {"role": "system", "content": "y"}],
            },
            "line 1: message 2: a system message may only come first",
        ),
        ({"id": "a", "messages": []}, "line 1: messages must be a non-empty list"),
        ({"id": "a", "messages": "hello"}, "line 1: messages must be a non-empty list"),
        ({"id": "a", "messages": user({"type": "audio", "x": 1})}, "unknown part type 'audio'"),
        ({"id": "a", "messages": user({"type": "text"})}, "a text part needs a string 'text'"),
        ({"id": "a", "messages": user({"type": "text", "text": "  "})}, "message 1: empty content"),
        (
            {
                "id": "a",
                "messages": user(
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
                ),
            },
            "is an address; tastetest never fetches files from the network",
        ),
        (
            {"id": "a", "messages": user({"type": "image_url", "image_url": {"url": "cat.png"}})},
            "names a file, but the JSONL was not uploaded in a zip",
        ),
        (
            {
                "id": "a",
                "messages": user(
                    {"type": "image_url", "image_url": {"url": data_url(b"not an image")}}
                ),
            },
            "is not a readable image",
        ),
        (
            {
                "id": "a",
                "messages": user(
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,@@@"}}
                ),
            },
            "is not valid base64",
        ),
        (
            {
                "id": "a",
                "messages": user(
                    {"type": "image_url", "image_url": {"url": data_url(PDF, "application/pdf")}}
                ),
            },
            "holds application/pdf, not an image",
        ),
        (
            {
                "id": "a",
                "messages": user(
                    {
                        "type": "file",
                        "file": {
                            "filename": "x.pdf",
                            "file_data": data_url(b"<html>", "application/pdf"),
                        },
                    }
                ),
            },
            "is named as a PDF but is not one",
        ),
        (
            {
                "id": "a",
                "messages": user(
                    {
                        "type": "file",
                        "file": {
                            "filename": "x.exe",
                            "file_data": data_url(b"MZ", "application/x-msdownload"),
                        },
                    }
                ),
            },
            "documents may be PDF, plain text or Markdown",
        ),
        (
            {
                "id": "a",
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "image_url", "image_url": data_url(png_bytes())}],
                    },
                    {"role": "user", "content": "?"},
                ],
            },
            "images and files may only be in the user's messages",
        ),
        ({"id": "a", "turns": ["ok", ""]}, "line 1: turn 2: must be non-empty text"),
        ({"id": "a", "turns": []}, "line 1: turns must be a non-empty list"),
        (
            {"id": "a", "text": "x", "turns": ["y"]},
            "give one of text, messages or turns, not text and turns",
        ),
        ({"id": "a", "text": "x", "system": "y"}, "system goes with turns"),
        ({"id": "a"}, "line 1: missing field(s) text (or messages, or turns)"),
    ],
)
def test_a_bad_conversation_is_refused_with_its_line_and_nothing_is_written(study, row, message):
    good = {"id": "fine", "turns": ["ok"]}
    image_row = {
        "id": "img",
        "messages": user({"type": "image_url", "image_url": data_url(png_bytes())}),
    }
    with pytest.raises(ImportFailed) as refused:
        prompts_import(study=study, data=jsonl(good, image_row, row), filename="p.jsonl")
    assert any(message.replace("line 1", "line 3") in error for error in refused.value.errors), (
        refused.value.errors
    )
    assert not Prompt.objects.exists()
    assert not PromptMedia.objects.exists()


def test_an_image_over_the_size_limit_is_refused(study, settings):
    image = png_bytes(size=(300, 300))
    settings.MAX_MEDIA_BYTES = len(image) - 1
    row = {"id": "a", "messages": user({"type": "image_url", "image_url": data_url(image)})}
    with pytest.raises(ImportFailed, match=f"line 1: .*the limit is {len(image) - 1:,}"):
        prompts_import(study=study, data=jsonl(row), filename="p.jsonl")


def test_an_image_of_too_many_pixels_is_refused_before_decoding(study, settings):
    settings.MAX_IMAGE_PIXELS = 1000
    row = {
        "id": "a",
        "messages": user({"type": "image_url", "image_url": data_url(png_bytes(size=(40, 40)))}),
    }
    with pytest.raises(ImportFailed, match="40x40 pixels; the limit is 1,000 pixels"):
        prompts_import(study=study, data=jsonl(row), filename="p.jsonl")


def test_a_zip_member_larger_than_it_declares_or_missing_or_climbing_out_is_refused(
    study, settings
):
    settings.MAX_MEDIA_BYTES = 1000
    row = lambda name: {"id": name, "messages": user({"type": "image_url", "image_url": name})}  # noqa: E731
    archive = zipped(
        {
            "p.jsonl": jsonl(row("big.png"), row("gone.png"), row("../etc/passwd")),
            "big.png": png_bytes(size=(2000, 2000)) + b"\0" * 5000,
        }
    )
    with pytest.raises(ImportFailed) as refused:
        prompts_import(study=study, data=archive, filename="p.zip")
    errors = "\n".join(refused.value.errors)
    assert "line 1: message 1 part 1: 'big.png' is 2" in errors
    assert "the limit is 1,000" in errors
    assert "line 2: message 1 part 1: 'gone.png' is not in the zip" in errors
    assert "line 3: message 1 part 1: '../etc/passwd': name files by their path" in errors
    assert not PromptMedia.objects.exists()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"a.png": b"x"},
            "the zip must hold exactly one prompt file (.jsonl or .csv); it holds none",
        ),
        ({"a.jsonl": b"{}", "b.jsonl": b"{}"}, "it holds a.jsonl, b.jsonl"),
    ],
)
def test_a_zip_without_exactly_one_prompt_file_is_refused(study, files, message):
    with pytest.raises(ImportFailed, match=message.replace("(", r"\(").replace(")", r"\)")):
        prompts_import(study=study, data=zipped(files), filename="p.zip")


def test_a_damaged_zip_is_refused_not_a_500(study):
    with pytest.raises(ImportFailed, match="line 1: the zip cannot be read"):
        prompts_import(study=study, data=b"PK\x03\x04garbage", filename="p.zip")


def test_a_csv_inside_a_zip_imports_as_today(study):
    archive = zipped({"p.csv": b"id,text\nq1,hello\n"})
    assert prompts_import(study=study, data=archive, filename="p.zip") == 1
