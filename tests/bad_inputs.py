"""Generators of inputs that must never crash a stage: each one is bad by construction."""

import json
import random

BAD_KINDS = ("truncated_json", "invalid_utf8", "not_object", "wrong_type", "empty_text", "binary", "bad_time")


def bad_input(rng: random.Random) -> tuple[bytes, str]:
    """One bad payload and the kind of badness it has."""
    kind = rng.choice(BAD_KINDS)
    text = "".join(rng.choice("абвгдеёжзийклмнопрстуфхцчшщъыьэюя ,.!?0123456789") for _ in range(rng.randint(1, 80)))
    good = json.dumps({"id": f"f{rng.getrandbits(48)}", "text": text or "x"}, ensure_ascii=False).encode()
    if kind == "truncated_json":
        return good[: rng.randint(1, len(good) - 2)], kind
    if kind == "invalid_utf8":
        cut = rng.randint(0, len(good))
        return good[:cut] + rng.choice([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xf0\x9f\x98"]) + good[cut:], kind
    if kind == "not_object":
        return json.dumps(rng.choice([[text], text, rng.randint(-5, 5), None, True])).encode(), kind
    if kind == "wrong_type":
        field, value = rng.choice([("text", rng.randint(0, 10**6)), ("text", [text]), ("text", {"t": text}),
                                   ("lat", "north"), ("lat", 500.0), ("lon", [1, 2])])  # fmt: skip
        payload = {"id": f"f{rng.getrandbits(48)}", "text": text or "x", field: value}
        return json.dumps(payload, ensure_ascii=False).encode(), kind
    if kind == "empty_text":
        return json.dumps({"id": f"f{rng.getrandbits(48)}", "text": rng.choice(["", " ", "\n\t", None])}).encode(), kind
    if kind == "bad_time":
        payload = {
            "id": f"f{rng.getrandbits(48)}",
            "text": text or "x",
            "created_at": rng.choice(["вчера", "32.13.2025", "2025-99-99"]),
        }
        return json.dumps(payload, ensure_ascii=False).encode(), kind
    return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))) + b"\xff", kind
