"""What each platform receives, from a schedule's content snapshot."""

from __future__ import annotations

from typing import Any

from twitter_text import parse_tweet

X_LIMIT = 280
INSTAGRAM_CAPTION_LIMIT = 2200


def x_weight(text: str) -> int:
    """X's weighted length, by twitter-text v3 (a URL counts 23, CJK and an emoji 2, most else 1)."""
    return int(parse_tweet(text).weightedLength)


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
    link = _link(content, "x")
    cta = str(content.get("cta_label") or "Learn more")
    closing = f"{cta}: {link}" if link else cta
    body = " ".join(str(p).strip() for p in (content.get("title"), content.get("copy")) if p)
    single = f"{body}\n\n{closing}" if body else closing
    if x_weight(single) <= X_LIMIT:
        return [single]
    budget = X_LIMIT - 8  # room for " (10/12)"
    tweets = _pack(body.split(), budget)
    if tweets and x_weight(f"{tweets[-1]}\n\n{closing}") <= budget:
        tweets[-1] = f"{tweets[-1]}\n\n{closing}"
    else:
        tweets.append(closing)
    total = len(tweets)
    return [f"{t} ({i}/{total})" for i, t in enumerate(tweets, 1)]


def _pack(words: list[str], budget: int) -> list[str]:
    """Words into as few tweets of weight <= budget as they go, in order; an overlong word is cut.

    Weights add up across the single spaces between words (a URL or an emoji never spans one), so
    each word is weighed once; each tweet is still weighed whole before it is kept.
    """
    weights = [x_weight(w) for w in words]
    tweets: list[str] = []
    i = 0
    while i < len(words):
        if weights[i] > budget:  # a single overlong word is cut
            piece = _longest_prefix(words[i], budget)
            tweets.append(piece)
            words[i] = words[i][len(piece) :]
            weights[i] = x_weight(words[i])
            if not words[i]:
                i += 1
            continue
        j, weight = i + 1, weights[i]
        while j < len(words) and weight + 1 + weights[j] <= budget:
            weight += 1 + weights[j]
            j += 1
        while j > i + 1 and x_weight(" ".join(words[i:j])) > budget:
            j -= 1
        tweets.append(" ".join(words[i:j]))
        i = j
    return tweets


def _longest_prefix(word: str, budget: int) -> str:
    low, high = 1, len(word)  # x_weight(word[:1]) <= 2 <= budget
    while low < high:
        mid = (low + high + 1) // 2
        if x_weight(word[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return word[:low]
