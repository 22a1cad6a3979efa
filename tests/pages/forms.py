"""Read a rendered form the way a browser would submit it, so tests post exactly what the page holds."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, form_id: str) -> None:
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.depth = 0
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._first_option: str | None = None
        self._option: str | None = None
        self._option_text = ""
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form" and attr.get("id") == self.form_id:
            self.depth = 1
            return
        if not self.depth:
            return
        name = attr.get("name")
        if tag == "input" and name and "disabled" not in attr:
            kind = attr.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attr:
                    self.pairs.append((name, attr.get("value", "on")))
            elif kind not in ("submit", "button", "file"):
                self.pairs.append((name, attr.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_value, self._first_option = name, None, None
        elif tag == "option" and self._select is not None:
            self._option = attr.get("value")
            self._option_text = ""
            if "selected" in attr:
                self._select_value = self._option if self._option is not None else ""
            self._pending_selected = "selected" in attr
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data
        if self._option is None and self._select is not None:
            self._option_text += data

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag == "option" and self._select is not None:
            value = self._option if self._option is not None else self._option_text
            if self._first_option is None:
                self._first_option = value
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = self._select_value if self._select_value is not None else self._first_option
            self.pairs.append((self._select, chosen or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.pairs.append((self._textarea, self._text))
            self._textarea = None
        elif tag == "form":
            self.depth = 0


def form_data(html: str, form_id: str = "builder") -> dict[str, list[str]]:
    """The form's successful controls as the test client takes them: name → values, in page order."""
    reader = _FormReader(form_id)
    reader.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in reader.pairs:
        data.setdefault(name, []).append(value)
    return data
