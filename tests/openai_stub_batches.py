"""OpenAI's Files and Batch APIs for the test server (``tests/openai_stub.py``).

``POST /v1/files`` (multipart upload), ``GET /v1/files/{id}/content``, ``POST /v1/batches``,
``GET /v1/batches`` (list, newest first), ``GET /v1/batches/{id}`` and
``POST /v1/batches/{id}/cancel``. A batch answers each line of its input file with the same
reply and usage as a live call would get. Behaviour, set on the stub:

- ``batch_delay``: seconds from creation until the batch reports ``completed`` (until then
  ``in_progress``)
- ``batch_fail_every``: every n-th line (1-based) fails with a 500 in the error file
- ``batch_malformed_every``: every n-th line of the output file is not JSON
- ``batch_hang``: ``"before_create"`` / ``"after_create"`` hold ``POST /v1/batches`` unanswered
  (before or after the batch exists), ``"content"`` holds file downloads: a worker can be killed
  there
- ``batch_expire``: the batch ends ``expired`` with only the first half of its lines answered;
  the rest are in the error file with code ``batch_expired`` (as OpenAI reports them)

``files`` and ``batches`` keep everything created, so tests can count uploads and batches;
``batch_cancels`` lists the batches asked to cancel. A batch cancelled before its delay ends
never answers (no output file), as an OpenAI batch cancelled before it ran.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class StubBatch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict
    created_at: float
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})


class BatchEndpoints:
    """Mixed into OpenAIStub; its ``_respond`` hands /files and /batches paths here."""

    def batch_endpoints_reset(self) -> None:
        self.batch_delay = 0.0
        self.batch_fail_every = 0
        self.batch_malformed_every = 0
        self.batch_expire = False
        self.batch_hang = ""
        self.batch_hung = 0  # requests held so far
        self.files: dict[str, dict] = {}
        self.batches: dict[str, StubBatch] = {}
        self.batch_cancels: list[str] = []  # ids of the batches asked to cancel, in order
        self._ids = itertools.count(1)

    def handles_batch_path(self, path: str) -> bool:
        route = urlsplit(path).path
        return "/files" in route or "/batches" in route

    async def batch_respond(self, method: str, path: str, body: bytes, headers: dict, writer):
        url = urlsplit(path)
        parts = [p for p in url.path.split("/") if p and p != "v1"]
        creating = parts == ["batches"] and method == "POST"
        reading = len(parts) == 3 and parts[0] == "files" and parts[2] == "content"
        hang = (creating and self.batch_hang.endswith("create")) or (
            reading and self.batch_hang == "content"
        )
        if hang and self.batch_hang != "after_create":
            return await self._batch_hold()
        with self._lock:
            status, payload = self._batch_route(method, parts, parse_qs(url.query), body, headers)
        if hang:
            return await self._batch_hold()
        if isinstance(payload, bytes):
            await self._send(writer, status, payload, "application/jsonl")
        else:
            await self._send_json(writer, status, payload)
        return True

    async def _batch_hold(self) -> bool:
        with self._lock:
            self.batch_hung += 1
        await self._hang_release.wait()
        return False  # the connection closes unanswered

    def _batch_route(self, method, parts, query, body, headers):
        if parts == ["files"] and method == "POST":
            return self._file_create(body, headers.get("content-type", ""))
        if len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            found = self.files.get(parts[1])
            return (200, found["content"]) if found else _missing(parts[1])
        if parts == ["batches"] and method == "POST":
            return self._batch_create(json.loads(body or b"{}"))
        if parts == ["batches"] and method == "GET":
            limit = int(query.get("limit", ["20"])[0])
            newest = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
            data = [self._batch_object(b) for b in newest[:limit]]
            return 200, {"object": "list", "data": data, "has_more": len(newest) > limit}
        if len(parts) >= 2 and parts[0] == "batches" and parts[1] in self.batches:
            batch = self.batches[parts[1]]
            cancel = len(parts) == 3 and parts[2] == "cancel" and method == "POST"
            if cancel:
                self.batch_cancels.append(batch.id)
            if cancel and batch.status == "in_progress":
                batch.status = "cancelled"
            return 200, self._batch_object(batch)
        return 404, {"error": {"message": f"no route {'/'.join(parts)}"}}

    def _file_create(self, body: bytes, content_type: str):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        fields = {}
        for part in message.iter_parts():
            fields[part.get_param("name", header="content-disposition")] = part
        upload = fields.get("file")
        if upload is None:
            return 400, {"error": {"message": "no file"}}
        content = upload.get_payload(decode=True) or b""
        file_id = f"file-stub{next(self._ids)}"
        self.files[file_id] = {
            "content": content,
            "purpose": fields["purpose"].get_content().strip() if "purpose" in fields else "",
            "filename": upload.get_filename() or "upload.jsonl",
        }
        return 200, self._file_object(file_id)

    def _file_object(self, file_id: str) -> dict:
        found = self.files[file_id]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(found["content"]),
            "created_at": int(time.time()),
            "filename": found["filename"],
            "purpose": found["purpose"] or "batch",
            "status": "processed",
        }

    def _batch_create(self, payload: dict):
        input_file_id = payload.get("input_file_id", "")
        if input_file_id not in self.files:
            return _missing(input_file_id)
        batch = StubBatch(
            id=f"batch_stub{next(self._ids)}",
            input_file_id=input_file_id,
            endpoint=payload.get("endpoint", ""),
            metadata=dict(payload.get("metadata") or {}),
            created_at=time.time(),
        )
        batch.counts["total"] = self.files[input_file_id]["content"].count(b"\n")
        self.batches[batch.id] = batch
        return 200, self._batch_object(batch, run=False)

    def _batch_object(self, batch: StubBatch, *, run: bool = True) -> dict:
        due = time.time() - batch.created_at >= self.batch_delay
        if run and batch.status == "in_progress" and due:
            self._batch_finish(batch)
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": int(batch.created_at),
            "request_counts": dict(batch.counts),
            "metadata": batch.metadata,
        }

    def _batch_finish(self, batch: StubBatch) -> None:
        from tests.openai_stub import StubRequest

        lines = self.files[batch.input_file_id]["content"].splitlines()
        answered = len(lines) // 2 if self.batch_expire else len(lines)
        outputs, errors = [], []
        for number, raw in enumerate(lines, start=1):
            line = json.loads(raw)
            custom_id = line["custom_id"]
            if number > answered:
                errors.append(_error_line(custom_id, "batch_expired", "expired before it ran"))
                continue
            if self.batch_fail_every and number % self.batch_fail_every == 0:
                errors.append(_error_line(custom_id, "server_error", "The server had an error"))
                continue
            body = line["body"]
            request = StubRequest(
                model=str(body.get("model", "")),
                messages=list(body.get("messages") or []),
                stream=False,
                mode="batch",
                body=body,
            )
            self.requests.append(request)
            if self.batch_malformed_every and number % self.batch_malformed_every == 0:
                outputs.append(b'{"custom_id": "' + custom_id.encode() + b'", "respo')
                continue
            text = self.reply(request)
            prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.messages)
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text.split()),
                "total_tokens": prompt_tokens + len(text.split()),
            }
            response = {
                "status_code": 200,
                "request_id": f"req_{number}",
                "body": {
                    "id": f"chatcmpl-batch{number}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": self.served_as.get(request.model, request.model),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                },
            }
            outputs.append(
                json.dumps(
                    {"id": f"batch_req_{number}", "custom_id": custom_id, "response": response}
                ).encode()
            )
        batch.counts["completed"] = len(outputs)
        batch.counts["failed"] = len(errors)
        batch.status = "expired" if self.batch_expire else "completed"
        if outputs:
            batch.output_file_id = f"file-stub{next(self._ids)}"
            self.files[batch.output_file_id] = {
                "content": b"\n".join(outputs) + b"\n",
                "purpose": "batch_output",
                "filename": "output.jsonl",
            }
        if errors:
            batch.error_file_id = f"file-stub{next(self._ids)}"
            self.files[batch.error_file_id] = {
                "content": b"\n".join(errors) + b"\n",
                "purpose": "batch_output",
                "filename": "errors.jsonl",
            }


def _error_line(custom_id: str, code: str, message: str) -> bytes:
    return json.dumps(
        {
            "id": f"batch_req_{custom_id}",
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": message},
        }
    ).encode()


def _missing(file_id: str):
    return 404, {
        "error": {"message": f"No such object: {file_id}", "type": "invalid_request_error"}
    }
