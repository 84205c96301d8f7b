"""Which ClickHouse insert errors a retry can cure, and which only splitting the batch can.

Retrying is the safe default: a stalled sink is loud (metrics, alerts) and loses nothing, while a
wrong "bad data" verdict dead-letters good rows. So only errors that are certainly about the
rows themselves are ``REJECT``: the server's data codes below, and clickhouse-connect's
``DataError`` raised before sending (a value its column type cannot hold). Schema errors (an
unknown column or table) are deliberately *not* here: every row would fail alone too, and a
deployment mistake must stall the sink, not dead-letter everything it reads.
"""

import re
from dataclasses import dataclass
from enum import StrEnum

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, Error

TOO_MANY_PARTS = 252

# ClickHouse server error codes (src/Common/ErrorCodes.cpp) that are a verdict on the data sent.
DATA_ERROR_CODES: dict[int, str] = {
    6: "CANNOT_PARSE_TEXT",
    26: "CANNOT_PARSE_QUOTED_STRING",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    38: "CANNOT_PARSE_DATE",
    41: "CANNOT_PARSE_DATETIME",
    53: "TYPE_MISMATCH",
    69: "ARGUMENT_OUT_OF_BOUND",
    70: "CANNOT_CONVERT_TYPE",
    72: "CANNOT_PARSE_NUMBER",
    117: "INCORRECT_DATA",
    131: "TOO_LARGE_STRING_SIZE",
    190: "SIZES_OF_ARRAYS_DONT_MATCH",
    321: "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
    349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
    395: "FUNCTION_THROW_IF_VALUE_IS_NON_ZERO",
    407: "DECIMAL_OVERFLOW",
    469: "VIOLATED_CONSTRAINT",
}
# Code 252 is both "too many parts" (merges lag behind inserts: back-pressure, wait and retry)
# and "too many partitions for a single INSERT block" (a property of the rows: split).
_TOO_MANY_PARTITIONS = re.compile(r"too many partitions for (a )?single insert block", re.I)
_CODE = re.compile(r"\bCode:\s*(\d+)")


class Verdict(StrEnum):
    RETRY = "retry"  # the store or the network: the same insert may succeed later
    REJECT = "reject"  # the rows: the same insert fails every time; split to find them


@dataclass(frozen=True)
class InsertError:
    verdict: Verdict
    code: int | None
    name: str
    message: str

    def describe(self) -> str:
        head = f"ClickHouse Code {self.code} ({self.name})" if self.code is not None else self.name
        return f"{head}: {self.message}"


def error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    m = _CODE.search(str(exc))
    return int(m.group(1)) if m else None


def classify(exc: BaseException) -> InsertError:
    message = " ".join(str(exc).split())[:1500]
    code = error_code(exc)
    if isinstance(exc, DataError) and code is None:
        # raised by clickhouse-connect while serialising a value into its column type
        return InsertError(Verdict.REJECT, None, "DataError", message)
    if isinstance(exc, DatabaseError) and code is not None:
        if code in DATA_ERROR_CODES:
            return InsertError(Verdict.REJECT, code, DATA_ERROR_CODES[code], message)
        if code == TOO_MANY_PARTS and _TOO_MANY_PARTITIONS.search(message):
            return InsertError(Verdict.REJECT, code, "TOO_MANY_PARTITIONS", message)
    name = getattr(exc, "name", None) if isinstance(exc, Error) else None
    return InsertError(Verdict.RETRY, code, name or type(exc).__name__, message)
