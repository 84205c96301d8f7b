import hashlib
import hmac


def pseudonymize(author: str, key: bytes) -> str:
    """Keyed HMAC of an author's id (152-ФЗ): stable for counting repeat authors, not reversible
    without the key. Rotating the key breaks linkage with older records on purpose."""
    return hmac.new(key, author.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
