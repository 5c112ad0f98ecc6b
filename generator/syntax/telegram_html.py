"""Telegram's HTML message style, as the Bot API parses `parse_mode: HTML` (Bot API docs, "Formatting options",
HTML style):

- supported tags: <b>/<strong>, <i>/<em>, <u>/<ins>, <s>/<strike>/<del>, <span class="tg-spoiler">, <tg-spoiler>,
  <a href="...">, <code>, <pre>, <blockquote>; tags must be closed and properly nested;
- "All <, > and & symbols that are not a part of a tag or an HTML entity must be replaced with the corresponding
  HTML entities"; "All numerical HTML entities are supported"; "The API currently supports only the following named
  HTML entities: &lt;, &gt;, &amp; and &quot;";
- sendMessage `text`: "1-4096 characters after entities parsing" (markup does not count, an entity counts as the
  character it stands for). Lengths are counted here in UTF-16 code units, as Telegram counts entity offsets: an
  emoji outside the BMP counts twice, so the count is never below Telegram's.

Checks and the fake Bot API server both use this parser; it answers what Telegram would: the visible text, or why
the message "can't parse entities".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

MAX_MESSAGE_LENGTH = 4096
ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "span", "a", "code", "pre",
                "blockquote"}
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_TAG = re.compile(r'<(?P<close>/)?(?P<name>[a-z][a-z0-9-]*)(?P<attrs>(?:\s+[a-z-]+="[^"<>]*")*)\s*>')
_ATTR = re.compile(r'([a-z-]+)="([^"<>]*)"')
_ENTITY = re.compile(r"&(?:#(?P<dec>[0-9]{1,7})|#x(?P<hex>[0-9a-fA-F]{1,6})|(?P<name>[a-zA-Z]+));")


class TelegramHtmlError(ValueError):
    """What Telegram answers as `Bad Request: can't parse entities: ...`."""


@dataclass
class ParsedMessage:
    text: str  # what the reader sees
    links: list[tuple[str, str]] = field(default_factory=list)  # (href, link text)

    @property
    def length(self) -> int:
        return len(self.text.encode("utf-16-le")) // 2


def _unescape(raw: str, offset: int) -> str:
    out = []
    position = 0
    while position < len(raw):
        char = raw[position]
        if char == "&":
            match = _ENTITY.match(raw, position)
            if not match:
                raise TelegramHtmlError(f"unsupported start tag or entity at byte offset {offset + position}: "
                                        "a bare & must be written &amp;")
            if match["name"] is not None:
                if match["name"] not in NAMED_ENTITIES:
                    raise TelegramHtmlError(f"unsupported HTML entity &{match['name']}; at offset {offset + position}")
                out.append(NAMED_ENTITIES[match["name"]])
            else:
                out.append(chr(int(match["dec"]) if match["dec"] is not None else int(match["hex"], 16)))
            position = match.end()
        elif char == ">":
            raise TelegramHtmlError(f"a bare > at offset {offset + position} must be written &gt;")
        else:
            out.append(char)
            position += 1
    return "".join(out)


def parse(message: str) -> ParsedMessage:
    """The visible text and the links of a Telegram HTML message; TelegramHtmlError when Telegram would refuse it."""
    visible: list[str] = []
    links: list[tuple[str, str]] = []
    open_tags: list[tuple[str, str, int]] = []  # (tag, href, where its text starts in `visible`)
    position = 0
    for match in re.finditer(r"<", message):
        start = match.start()
        if start < position:
            continue
        visible.append(_unescape(message[position:start], position))
        tag = _TAG.match(message, start)
        if not tag:
            raise TelegramHtmlError(f"unsupported start tag at offset {start}: a bare < must be written &lt;")
        name = tag["name"]
        if name not in ALLOWED_TAGS:
            raise TelegramHtmlError(f'unsupported start tag "{name}" at offset {start}')
        attrs = {key: _unescape(value, start) for key, value in _ATTR.findall(tag["attrs"] or "")}
        if tag["close"]:
            if not open_tags or open_tags[-1][0] != name:
                raise TelegramHtmlError(f'unmatched end tag "{name}" at offset {start}')
            _, href, text_start = open_tags.pop()
            if name == "a":
                links.append((href, "".join(visible)[text_start:]))
        else:
            if name == "a" and "href" not in attrs:
                raise TelegramHtmlError(f"<a> without href at offset {start}")
            open_tags.append((name, attrs.get("href", ""), len("".join(visible))))
        position = tag.end()
    visible.append(_unescape(message[position:], position))
    if open_tags:
        raise TelegramHtmlError(f'can\'t find end tag corresponding to start tag "{open_tags[-1][0]}"')
    return ParsedMessage("".join(visible), links)


def escape(text: str) -> str:
    """Text as Telegram HTML shows it literally."""
    return html.escape(text, quote=False)
