"""``dropkit video``: render a spec or an edited manifest, and a store product by SKU."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
from typer.testing import CliRunner, Result

from dropkit import Dropkit
from dropkit.app.cli import app
from dropkit.app.demo_store import seed_store


def invoke(*args: str, data_dir: Path) -> Result:
    env = {"DROPKIT_DATA_DIR": str(data_dir)}
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


SPEC = {
    "script": ["The lamp glows warm.", "Order yours today."],
    "resolution": 180,
    "fps": 15,
    "quality": {"preset": "ultrafast", "crf": 30},
}


def test_render_spec_then_edited_manifest(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "out" / "promo.mp4"
    result = invoke("video", "render", str(spec), "-o", str(out), data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output.replace("\n", "")
    for suffix in (".mp4", ".srt", ".vtt", ".jpg", ".json"):
        assert out.with_suffix(suffix).is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        f"promo{s}" for s in (".mp4", ".srt", ".vtt", ".jpg", ".json")
    )
    manifest = json.loads(out.with_suffix(".json").read_text())
    manifest["texts"][0]["text"] = "An edited subtitle"
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(manifest))
    again = tmp_path / "out" / "edited.mp4"
    result = invoke("video", "render", str(edited), "-o", str(again), data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert "An edited subtitle" in again.with_suffix(".srt").read_text()


def test_render_errors_are_one_red_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"script": [" "]}))
    result = invoke("video", "render", str(bad), "-o", str(tmp_path / "x.mp4"), data_dir=tmp_path)
    assert result.exit_code == 1 and "error: spec: the script is empty" in result.stderr
    result = invoke(
        "video", "render", str(tmp_path / "nope.json"), "-o", "x.mp4", data_dir=tmp_path
    )
    assert result.exit_code == 1 and "cannot read" in result.stderr
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"scenes": [], "width": 10}))
    result = invoke("video", "render", str(manifest), "-o", "x.mp4", data_dir=tmp_path)
    assert result.exit_code == 1 and "invalid manifest" in result.stderr
    assert "timeline: invalid manifest at width:" in result.stderr.replace("\n", "")
    assert not (tmp_path / "x.mp4").exists()


def test_render_to_a_dotted_name_keeps_the_dots(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    out = tmp_path / "out" / "promo.v2.mp4"
    result = invoke("video", "render", str(spec), "-o", str(out), data_dir=tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        f"promo.v2{s}" for s in (".mp4", ".srt", ".vtt", ".jpg", ".json")
    )


async def test_from_product(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with Dropkit(data_dir=data_dir) as kit:
        await seed_store(kit, data_dir / "media", media_url="http://127.0.0.1:1/media")
    out_dir = tmp_path / "videos"
    args = ("video", "from-product", "STAND-BIRCH-NAT", "--out-dir", str(out_dir))
    result = await anyio.to_thread.run_sync(
        lambda: invoke(*args, "--resolution", "180", data_dir=data_dir)
    )
    assert result.exit_code == 0, result.output
    videos = sorted(out_dir.glob("*.mp4"))
    assert [v.name for v in videos] == ["stand-birch-nat-9x16-v1.mp4"]
    srt = (out_dir / "stand-birch-nat-9x16-v1.srt").read_text()
    assert "Birch Monitor Stand" in srt and "$45.00" in srt
    missing = await anyio.to_thread.run_sync(
        lambda: invoke(
            "video", "from-product", "NOPE-1", "--out-dir", str(out_dir), data_dir=data_dir
        )
    )
    assert missing.exit_code == 1 and "NOPE-1" in missing.stderr
