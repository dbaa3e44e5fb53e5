"""A document prompt's request, against the OpenAI-speaking stub: the documents imported from
the zip reach the candidate whole, after the history, through LiteLLM's real client path."""

import base64

import pytest

from evaluations.models import Output
from evaluations.studies.importing import prompts_import
from tests.conversations.conftest import jsonl, zipped
from tests.conversations.test_conversation_generation import PDF, generate_all

pytestmark = pytest.mark.django_db

FILING = "# Annual filing\n\n" + "\n".join(f"Item {i}: revenue {i * 100}." for i in range(1, 300))


def test_a_document_prompt_from_a_zip_carries_its_pdf_and_its_text_in_the_request(
    study, stub_candidate, openai_stub
):
    row = {
        "id": "doc1",
        "category": "documents",
        "messages": [
            {"role": "system", "content": "You review filings."},
            {"role": "user", "content": "I will send two documents."},
            {"role": "assistant", "content": "Ready."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is item 250's revenue, and what is the PDF?"},
                    {"type": "file", "file": {"filename": "docs/contract.pdf"}},
                    {"type": "file", "file": {"filename": "filing.md"}},
                ],
            },
        ],
    }
    archive = zipped(
        {
            "prompts.jsonl": jsonl(row),
            "docs/contract.pdf": PDF,
            "filing.md": FILING.encode(),
        }
    )
    assert prompts_import(study=study, data=archive, filename="set.zip") == 1
    stub_candidate(study, "alpha")
    assert [o.status for o in generate_all(study)] == [Output.Status.DONE]
    (request,) = openai_stub.requests
    assert [m["role"] for m in request.messages] == ["system", "user", "assistant", "user"]
    text, pdf, filing = request.messages[-1]["content"]
    assert text == {"type": "text", "text": "What is item 250's revenue, and what is the PDF?"}
    assert pdf["type"] == "file" and pdf["file"]["filename"] == "docs/contract.pdf"
    header, data = pdf["file"]["file_data"].split(",", 1)
    assert header == "data:application/pdf;base64"
    assert base64.b64decode(data) == PDF
    # A text document goes whole, named, as text (providers take only PDFs as file parts).
    assert filing == {"type": "text", "text": f"filing.md:\n\n{FILING}"}
    assert "Item 250: revenue 25000." in filing["text"]
