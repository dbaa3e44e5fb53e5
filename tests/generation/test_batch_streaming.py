"""A batch's request file is uploaded, and its result file downloaded and read, a chunk and a
line at a time, never held whole: this process's peak of Python allocations (tracemalloc) stays
far below the file's size. The test server runs in its own process here, so that its copy of
the files is not counted as ours. That ingestion as a whole (database writes included) does not
grow with the number of outputs is shown by benchmarks/batch_generation.py (10,000 vs 100,000)."""

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from evaluations.generation.batch_ingest import _lines
from evaluations.generation.batches import _candidate_context, _on_loop
from evaluations.providers import batch_api
from tests.factories import CandidateFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LINES = 3000
PROMPT_CHARS = 4000  # the server answers with the prompt reversed: as long an answer


@pytest.fixture
def stub_process(monkeypatch):
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.openai_stub"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    port = int(process.stdout.readline().split()[1])
    monkeypatch.setenv("STUB_API_KEY", "sk-stub")
    yield f"http://127.0.0.1:{port}/v1"
    process.terminate()
    process.wait(timeout=10)


def request_file(path: Path, lines: int) -> Path:
    with path.open("w") as file:
        for i in range(lines):
            body = {"model": "big", "messages": [{"role": "user", "content": "x" * PROMPT_CHARS}]}
            line = {"custom_id": str(i + 1), "method": "POST", "url": batch_api.ENDPOINT}
            file.write(json.dumps({**line, "body": body}) + "\n")
    return path


def peak_bytes(step) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = step()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_request_and_result_files_are_streamed_not_held_whole(study, stub_process, tmp_path):
    candidate = CandidateFactory(
        study=study, model="openai/big", api_base=stub_process, api_key_env="STUB_API_KEY"
    )
    deployment, _ = _candidate_context(candidate)
    model = candidate.model

    def cycle(lines: int) -> str:
        path = request_file(tmp_path / f"requests-{lines}.jsonl", lines)
        file_id = _on_loop(batch_api.batch_file_upload(deployment, model, path))
        created = _on_loop(batch_api.batch_create(deployment, model, input_file_id=file_id, key=""))
        return _on_loop(batch_api.batch_retrieve(deployment, model, created.id)).output_file_id

    def read(file_id: str) -> int:
        path = tmp_path / "results.jsonl"
        _on_loop(batch_api.batch_file_download(deployment, model, file_id, path))
        return sum(1 for output_id, _, _ in _lines(path) if output_id is not None)

    read(cycle(2))  # LiteLLM and its clients are loaded before anything is measured
    size = request_file(tmp_path / "size.jsonl", LINES).stat().st_size
    assert size > 10_000_000
    file_id, upload_peak = peak_bytes(lambda: cycle(LINES))
    count, read_peak = peak_bytes(lambda: read(file_id))
    assert count == LINES
    print(
        f"file {size / 1e6:.1f} MB: upload peak {upload_peak / 1e6:.2f} MB, "
        f"download and read peak {read_peak / 1e6:.2f} MB"
    )
    assert read_peak < size / 5, (
        f"reading a {size / 1e6:.0f} MB file peaked at {read_peak / 1e6:.1f} MB"
    )
    assert upload_peak < size / 5, (
        f"uploading a {size / 1e6:.0f} MB file peaked at {upload_peak / 1e6:.1f} MB"
    )
