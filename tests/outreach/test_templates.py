"""Sandboxed templates checked at preview, layouts and partials, text parts, MIME bytes."""

from __future__ import annotations

import email
from email import policy

import pytest

from dropkit.core.database import Database
from dropkit.outreach import OutgoingMessage, Outreach, TemplateError, TemplateKind, render_mime


# Protocol tests: one database is enough (storage is covered on both elsewhere).
@pytest.fixture
def odb(sqlite_odb: Database) -> Database:
    return sqlite_odb


@pytest.fixture
def outreach(sqlite_outreach: Outreach) -> Outreach:
    return sqlite_outreach


async def test_layouts_partials_and_generated_text(outreach: Outreach) -> None:
    templates = outreach.templates
    await templates.save(
        "base",
        kind=TemplateKind.LAYOUT,
        html="<html><body><h1>Shop</h1>{% block content %}{% endblock %}"
        '{% include "footer" %}</body></html>',
    )
    await templates.save("footer", kind=TemplateKind.PARTIAL, html="<p>Bye {{ name }}</p>")
    await templates.save(
        "hello",
        subject="Hi {{ name }}",
        html='<p>Look at <a href="{{ url }}">{{ product }}</a> &amp; more</p>'
        "<script>x()</script><ul><li>one</li></ul>",
        layout="base",
    )
    rendered = await templates.preview(
        "hello", {"name": "<Ann>", "url": "https://s.example/p", "product": "Lamp"}
    )
    assert rendered.subject == "Hi <Ann>"
    assert "<h1>Shop</h1>" in rendered.html and "Bye &lt;Ann&gt;" in rendered.html
    assert "Look at Lamp (https://s.example/p) & more" in rendered.text
    assert "- one" in rendered.text and "x()" not in rendered.text
    assert "Bye <Ann>" in rendered.text


@pytest.mark.parametrize(
    "html",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.__class__ }}",
        "{% set x = items.append(1) %}{{ x }}",
        "{% set x = product.update(a=1) %}{{ x }}",  # a dict's mutating method, by attribute
        "{{ product.__class__ }}",
        "{{ product.missing }}",
        "{{ missing_variable }}",
        "{{ 1 / 0 }}",
        '{% include "no-such-partial" %}',
    ],
)
async def test_bad_templates_fail_at_preview(outreach: Outreach, html: str) -> None:
    await outreach.templates.save("bad", subject="s", html=html)
    with pytest.raises(TemplateError):
        await outreach.templates.preview("bad", {"name": "x", "items": [], "product": {}})


async def test_mapping_keys_read_as_attributes_like_jinja(outreach: Outreach) -> None:
    await outreach.templates.save(
        "keys",
        subject="{{ p.title }}",
        html="{{ p.title }}|{{ p['items'] }}|{{ p.items is callable }}|{{ p.gone is defined }}",
    )
    compiled = await outreach.templates.compile("keys")
    rendered = compiled.render({"p": {"title": "Lamp", "items": "three"}})
    # a key is an attribute unless dict has one of that name (then Jinja's rule: the method)
    assert (rendered.subject, rendered.html) == ("Lamp", "Lamp|three|True|False")


async def test_syntax_errors_fail_at_save(outreach: Outreach) -> None:
    with pytest.raises(TemplateError):
        await outreach.templates.save("broken", subject="s", html="{% if %}")


def test_mime_bytes_parse_back_with_headers_and_utf8() -> None:
    message = OutgoingMessage(
        message_id="abc123@dropkit.local",
        sender="Shöp <shop@example.com>",
        recipient="ann@example.com",
        subject="Neuheit: Lampe für 31 € — jetzt ansehen, bevor sie weg ist, wirklich",
        html="<p>Grüße\r\nline</p>",
        text="Grüße " + "x" * 200,
        headers=(("List-Unsubscribe", "<https://s.example/u?t=1>"), ("X-Evil", "a\r\nBcc: x@y.z")),
        reply_to="help@example.com",
    )
    raw = render_mime(message)
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == "<abc123@dropkit.local>"
    assert str(parsed["Subject"]) == message.subject
    assert parsed["Bcc"] is None  # header injection is neutralised
    assert parsed["List-Unsubscribe"] == "<https://s.example/u?t=1>"
    text, html = (part.get_content() for part in parsed.iter_parts())
    assert text.startswith("Grüße " + "x" * 50)
    assert "Grüße" in html
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def _parts(raw: bytes) -> list[tuple[str, str]]:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    return [
        (str(p["Content-Transfer-Encoding"]), p.get_content().replace("\r\n", "\n"))
        for p in parsed.iter_parts()
    ]


def test_ascii_parts_go_7bit_and_the_rest_quoted_printable() -> None:
    def mime(text: str, html: str) -> bytes:
        return render_mime(
            OutgoingMessage("f00d@x.example", "a@x.example", "b@x.example", "s", html, text)
        )

    url = "https://shop.example/email/click?t=abc.def"
    plain = mime(f"See {url}\r\n.\r\n", f'<a href="{url}">x</a>')
    assert _parts(plain) == [("7bit", f"See {url}\n.\n"), ("7bit", f'<a href="{url}">x</a>')]
    assert b"=3D" not in plain  # tracked URLs stay readable
    long_line, boundary = "x" * 999, "--=_dk_f00d--"
    assert _parts(mime("lone\rcr", ""))[0] == ("7bit", "lone\ncr")
    for text in ("Grüße", long_line, f"a\n{boundary}\nb", "nul\0byte"):
        ((encoding, content), _) = _parts(mime(text, "<p>ok</p>"))
        assert encoding == "quoted-printable" and content.rstrip("\n") == text
    assert max(len(line) for line in mime(long_line, "").split(b"\r\n")) <= 998


async def test_generated_text_follows_the_rendered_html(outreach: Outreach) -> None:
    await outreach.templates.save(
        "promo",
        subject="{{ title }}",
        html='<p>Hi {{ name | default("<none>") }}</p><div>{{ blurb }}</div>'
        '<a href="{{ url }}">Shop</a>',
    )
    compiled = await outreach.templates.compile("promo")
    rendered = compiled.render(
        {"blurb": "<b>Big</b> sale <3", "url": "https://shop.example/x", "title": "A <3 B"}
    )
    assert "Hi &lt;none&gt;" in rendered.html and "Hi <none>" in rendered.text
    assert "Big sale <3" in rendered.text and "<b>" not in rendered.text  # markup stripped
    assert "<b>" not in rendered.html  # and escaped in HTML, as before
    assert "Shop (https://shop.example/x)" in rendered.text
    assert rendered.subject == "A <3 B"
