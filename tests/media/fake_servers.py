"""Loopback servers speaking the OpenAI and Pexels wire formats, for the real SDK/httpx clients."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route


def _chat_answer(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "test-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


class FakeOpenAI:
    """``/v1/chat/completions`` answers from a queue; ``/v1/audio/speech`` returns a WAV."""

    def __init__(self, answers: list[str], wav: bytes) -> None:
        self.answers = answers
        self.wav = wav
        self.requests: list[dict[str, Any]] = []

    async def chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("authorization") != "Bearer sk-test":
            return JSONResponse({"error": {"message": "bad key"}}, status_code=401)
        return JSONResponse(_chat_answer(self.answers.pop(0)))

    async def speech(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if body.get("response_format") != "wav" or not body.get("input"):
            return JSONResponse({"error": {"message": "bad request"}}, status_code=400)
        return Response(self.wav, media_type="audio/wav")

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/audio/speech", self.speech, methods=["POST"]),
            ]
        )


class FakePexels:
    """``/videos/search`` with two renditions per video, the files served by the same app."""

    def __init__(self, clip: Path) -> None:
        self.clip = clip
        self.base = ""
        self.searches: list[dict[str, str]] = []
        self.downloads = 0

    async def search(self, request: Request) -> Response:
        if request.headers.get("authorization") != "px-key":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        self.searches.append(dict(request.query_params))
        video = {
            "id": 42,
            "url": "https://www.pexels.com/video/lamp-42/",
            "duration": 2,
            "user": {"name": "Ada Lens", "url": "https://www.pexels.com/@ada"},
            "video_files": [
                {"id": 1, "quality": "sd", "file_type": "video/mp4", "width": 96,
                 "height": 54, "link": f"{self.base}/files/tiny.mp4"},
                {"id": 2, "quality": "hd", "file_type": "video/mp4", "width": 320,
                 "height": 180, "link": f"{self.base}/files/clip.mp4"},
                {"id": 3, "quality": "uhd", "file_type": "video/mp4", "width": 3840,
                 "height": 2160, "link": f"{self.base}/files/huge.mp4"},
            ],
        }  # fmt: skip
        return Response(json.dumps({"page": 1, "videos": [video]}), media_type="application/json")

    async def file(self, request: Request) -> Response:
        if request.path_params["name"] != "clip.mp4":
            return Response(status_code=404)
        self.downloads += 1
        return FileResponse(self.clip)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/videos/search", self.search),
                Route("/files/{name}", self.file),
            ]
        )


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    async with anyio.create_task_group() as group:
        group.start_soon(server.serve, [sock])
        while not server.started:
            await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
    sock.close()
