"""A fake Telegram Bot API server: records every `sendMessage` and answers as Telegram does.

Modelled on the Bot API documentation (https://core.telegram.org/bots/api):
- "Making requests": `POST https://api.telegram.org/bot<token>/METHOD_NAME`; parameters as a query string,
  `application/x-www-form-urlencoded`, `application/json` or `multipart/form-data`; a response is a JSON object with
  `ok` and, on success, `result`; on failure `ok: false`, `error_code` and `description`.
- `sendMessage`: `chat_id` (Integer or String), `text` ("1-4096 characters after entities parsing"), `parse_mode`,
  `disable_notification` (Boolean, "sends the message silently"); on success the sent Message is returned (a
  Message has `message_id`, `date`, `chat` with `id` and `type`, and here `text`).
- "Formatting options", HTML style: what `generator.syntax.telegram_html` parses; a message that does not parse is
  refused with `400 Bad Request: can't parse entities: ...`, an empty or too long one with
  `400 Bad Request: message is too long` / `message text is empty`.
- A wrong token is `401 Unauthorized`; an unknown method `404 Not Found`.
Alertmanager 0.25 reaches it through `telegram_configs[].api_url`: its client (telebot v3) posts JSON to
`<api_url>/bot<token>/sendMessage` with every value a string (`"chat_id": "-1002"`, `"disable_notification":
"true"`, the latter only when set, and `"disable_web_page_preview": "true"`), as observed by the end-to-end test.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from generator.syntax.telegram_html import MAX_MESSAGE_LENGTH, ParsedMessage, TelegramHtmlError, parse
from tests.fakes.server import FakeServer, Reply


@dataclass
class SentMessage:
    chat_id: str
    text: str  # as sent (HTML)
    parse_mode: str
    disable_notification: bool
    parsed: ParsedMessage  # as the reader sees it
    fields: dict[str, Any]  # every field of the request, as sent


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _error(code: int, description: str) -> Reply:
    return Reply(code, {"ok": False, "error_code": code, "description": description})


@dataclass
class FakeTelegram(FakeServer):
    token: str = "123456:fake-token"
    sent: list[SentMessage] = field(default_factory=list)
    refused: list[tuple[dict[str, Any], str]] = field(default_factory=list)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> Reply:
        prefix = f"/bot{self.token}/"
        if not path.startswith("/bot"):
            return _error(404, "Not Found")
        if not path.startswith(prefix):
            return _error(401, "Unauthorized")
        api_method = path.removeprefix(prefix)
        if api_method != "sendMessage":
            return _error(404, "Not Found")
        content_type = headers.get("content-type", "")
        if "json" in content_type:
            fields: dict[str, Any] = json.loads(body or b"{}")
        else:
            fields = {key: values[-1] for key, values in {**query, **parse_qs(body.decode())}.items()}
        return self._send_message(fields)

    def _send_message(self, fields: dict[str, Any]) -> Reply:
        text = str(fields.get("text", ""))
        if "chat_id" not in fields:
            return _error(400, "Bad Request: chat_id is empty")
        try:
            parsed = parse(text) if fields.get("parse_mode") == "HTML" else ParsedMessage(text)
        except TelegramHtmlError as exc:
            self.refused.append((fields, str(exc)))
            return _error(400, f"Bad Request: can't parse entities: {exc}")
        if not parsed.text.strip():
            return _error(400, "Bad Request: message text is empty")
        if parsed.length > MAX_MESSAGE_LENGTH:
            self.refused.append((fields, "message is too long"))
            return _error(400, "Bad Request: message is too long")
        message = SentMessage(str(fields["chat_id"]), text, str(fields.get("parse_mode", "")),
                              _flag(fields.get("disable_notification")), parsed, fields)
        self.sent.append(message)
        chat_id = int(message.chat_id) if message.chat_id.lstrip("-").isdigit() else message.chat_id
        return Reply(200, {"ok": True, "result": {
            "message_id": len(self.sent), "date": int(time.time()),
            "chat": {"id": chat_id, "type": "supergroup" if str(chat_id).startswith("-100") else "private"},
            "text": parsed.text}})

    def messages(self) -> list[SentMessage]:
        with self.lock:
            return list(self.sent)
