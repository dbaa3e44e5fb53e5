"""The offline demo provider's batch API: files and batches kept as files under
``DATA_DIR/demo-batches``, answered by ``demo_answer`` once ``DEMO_BATCH_SECONDS`` have passed,
so that batch mode can be shown (``make run``) and tried without a network or a key."""

from __future__ import annotations

import json
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings


def _root() -> Path:
    root = Path(settings.DATA_DIR) / "demo-batches"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _batch_path(batch_id: str) -> Path:
    if not batch_id.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"not a demo batch id: {batch_id!r}")
    return _root() / f"{batch_id}.json"


def _file_path(file_id: str) -> Path:
    if not file_id.replace("-", "").isalnum():
        raise ValueError(f"not a demo file id: {file_id!r}")
    return _root() / f"{file_id}.jsonl"


def demo_file_upload(path: Path) -> str:
    file_id = f"file-demo{uuid.uuid4().hex}"
    shutil.copyfile(path, _file_path(file_id))
    return file_id


def demo_file_copy(file_id: str, path: Path) -> int:
    shutil.copyfile(_file_path(file_id), path)
    return path.stat().st_size


def demo_batch_create(*, input_file_id: str, key_metadata: dict) -> dict:
    if not _file_path(input_file_id).exists():
        raise ValueError(f"no such demo file: {input_file_id}")
    batch = {
        "id": f"batch_demo{uuid.uuid4().hex}",
        "status": "in_progress",
        "input_file_id": input_file_id,
        "metadata": key_metadata,
        "created_at": time.time(),
        "output_file_id": "",
        "error_file_id": "",
        "total": _lines_count(_file_path(input_file_id)),
        "completed": 0,
        "failed": 0,
    }
    _batch_path(batch["id"]).write_text(json.dumps(batch))
    return batch


def _lines_count(path: Path) -> int:
    with path.open("rb") as file:
        return sum(1 for _ in file)


def demo_batch_retrieve(batch_id: str) -> dict:
    path = _batch_path(batch_id)
    batch = json.loads(path.read_text())
    due = time.time() - batch["created_at"] >= settings.DEMO_BATCH_SECONDS
    if batch["status"] == "in_progress" and due:
        batch = _demo_batch_run(batch)
        path.write_text(json.dumps(batch))
    return batch


def demo_batch_cancel(batch_id: str) -> dict:
    path = _batch_path(batch_id)
    batch = json.loads(path.read_text())
    if batch["status"] == "in_progress":
        batch["status"] = "cancelled"
        path.write_text(json.dumps(batch))
    return batch


def demo_batches_list() -> list[dict]:
    found = [json.loads(p.read_text()) for p in _root().glob("batch_demo*.json")]
    return sorted(found, key=lambda b: b["created_at"], reverse=True)[:100]


def _demo_batch_run(batch: dict) -> dict:
    output_id = f"file-demo{uuid.uuid4().hex}"
    with (
        _file_path(batch["input_file_id"]).open("rb") as requests,
        _file_path(output_id).open("wb") as answers,
    ):
        for raw in requests:
            line = json.loads(raw)
            body = line["body"]
            # The demo provider is a LiteLLM provider: loaded when a batch is answered, not at
            # start-up (the admin imports the batch progress).
            from evaluations.providers.demo_provider import demo_answer, demo_prompt_tokens

            text = demo_answer(body["model"], body["messages"])
            prompt_tokens = demo_prompt_tokens(body["messages"])
            answer = {
                "custom_id": line["custom_id"],
                "response": {
                    "status_code": 200,
                    "body": {
                        "model": body["model"],
                        "choices": [{"message": {"role": "assistant", "content": text}}],
                        "usage": {
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": len(text.split()),
                        },
                    },
                },
            }
            answers.write(json.dumps(answer).encode() + b"\n")
            batch["completed"] += 1
    return {**batch, "status": "completed", "output_file_id": output_id}
