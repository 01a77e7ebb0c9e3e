"""What each platform receives, from a schedule's content snapshot (SPEC §4.5)."""

from __future__ import annotations

import re
from typing import Any

X_LIMIT = 280
X_URL_WEIGHT = 23
INSTAGRAM_CAPTION_LIMIT = 2200
_URL = re.compile(r"https?://\S+")
# twitter-text v3: these code points weigh 1, every other one 2 (CJK, emoji, ...)
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))


def x_weight(text: str) -> int:
    """X's weighted length: a URL counts 23, light characters 1, others 2."""
    weight = 0
    last = 0
    for match in _URL.finditer(text):
        weight += _char_weight(text[last : match.start()]) + X_URL_WEIGHT
        last = match.end()
    return weight + _char_weight(text[last:])


def _char_weight(text: str) -> int:
    return sum(1 if any(lo <= ord(ch) <= hi for lo, hi in _LIGHT) else 2 for ch in text)


def _link(content: dict[str, Any], platform: str) -> str | None:
    links = content.get("links") or {}
    link = links.get(platform) or content.get("landing_url")
    return str(link) if link else None


def facebook_post(content: dict[str, Any]) -> dict[str, str]:
    """A Page feed post: message and link (Facebook draws the preview from the link)."""
    parts = [str(content.get("title") or ""), str(content.get("copy") or "")]
    cta = content.get("cta_label")
    if cta:
        parts.append(f"{cta} →")
    post = {"message": "\n\n".join(p for p in parts if p)}
    link = _link(content, "facebook")
    if link:
        post["link"] = link
    return post


def instagram_caption(content: dict[str, Any]) -> str:
    """Links are not clickable in captions, so the call to action points to the profile."""
    cta = content.get("cta_label") or "Learn more"
    tail = f"\n\n{cta}: link in bio."
    body = "\n\n".join(str(p) for p in (content.get("title"), content.get("copy")) if p)
    room = INSTAGRAM_CAPTION_LIMIT - len(tail)
    if len(body) > room:
        body = body[: room - 1].rstrip() + "…"
    return body + tail


def x_thread(content: dict[str, Any]) -> list[str]:
    """One tweet when it fits, else a numbered thread; the tagged link and the CTA end the last one."""
    link = _link(content, "twitter")
    cta = str(content.get("cta_label") or "Learn more")
    closing = f"{cta}: {link}" if link else cta
    body = " ".join(str(p).strip() for p in (content.get("title"), content.get("copy")) if p)
    single = f"{body}\n\n{closing}" if body else closing
    if x_weight(single) <= X_LIMIT:
        return [single]
    words = body.split()
    tweets: list[str] = []
    current = ""
    budget = X_LIMIT - 8  # room for " (10/12)"
    for word in words:
        candidate = f"{current} {word}".strip()
        if x_weight(candidate) <= budget:
            current = candidate
            continue
        if current:
            tweets.append(current)
        while x_weight(word) > budget:  # a single overlong word is cut
            cut = len(word)
            while x_weight(word[:cut]) > budget:
                cut -= 1
            tweets.append(word[:cut])
            word = word[cut:]
        current = word
    if current and x_weight(f"{current}\n\n{closing}") <= budget:
        tweets.append(f"{current}\n\n{closing}")
    else:
        if current:
            tweets.append(current)
        tweets.append(closing)
    total = len(tweets)
    return [f"{t} ({i}/{total})" for i, t in enumerate(tweets, 1)]
