/**
 * One bad row must never block a table's writer. A batch that PostgreSQL refuses for a reason of its
 * rows (a data or constraint error, not a lost connection) is split in halves until the offending rows
 * stand alone; they are handed back with PostgreSQL's own message and every other row is written.
 * A lost connection or a server error still throws, so the caller retries the whole batch later.
 */
import { errorMessage } from "@energy/contracts/errors.ts";

/** A row the database refused, with its reason. */
export interface RefusedRow<T> {
  row: T;
  reason: string;
}

interface PgLike {
  code?: unknown;
  message?: unknown;
  detail?: unknown;
  cause?: unknown;
}

/** The errors down the cause chain (drizzle wraps the driver's error as `cause` of "Failed query: …"). */
function* chain(error: unknown): Generator<unknown> {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    yield e;
    e = (e as PgLike).cause;
  }
}

/** The SQLSTATE of a PostgreSQL error (postgres.js and PGlite both set `code`), if any. */
export function sqlState(error: unknown): string | undefined {
  for (const e of chain(error)) {
    const code = (e as PgLike).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && /^[0-9]/.test(code)) return code;
  }
  return undefined;
}

/**
 * PostgreSQL's reason for an error, e.g. `value "3000000000" is out of range for type integer (SQLSTATE
 * 22003)`, instead of drizzle's "Failed query: insert …" with every parameter of the batch.
 */
export function describeDbError(error: unknown): string {
  for (const e of chain(error)) {
    const p = e as PgLike;
    if (typeof p.code === "string" && typeof p.message === "string" && sqlState(e) !== undefined) {
      const detail = typeof p.detail === "string" && p.detail !== "" ? `; ${p.detail}` : "";
      return `${p.message}${detail} (SQLSTATE ${p.code})`;
    }
  }
  // No SQLSTATE: a connection error or one of ours. Its innermost message is the informative one.
  let last: unknown = error;
  for (const e of chain(error)) last = e;
  const text = errorMessage(last);
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/**
 * Whether the rows are to blame: SQLSTATE classes 21 (cardinality, e.g. one upsert touching a key twice),
 * 22 (data exception), 23 (integrity constraint) and 54 (program limit, e.g. a row too large), or a
 * RangeError/TypeError raised while encoding a parameter (an invalid Date). Anything else — connection
 * lost, server shutting down, out of disk — is the database's state, and the batch is retried as a whole.
 */
export function isDataError(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) return /^(21|22|23|54)/.test(state);
  for (const e of chain(error)) if (e instanceof RangeError || e instanceof TypeError) return true;
  return false;
}

/**
 * Writes `rows` with `write`, bisecting on data errors: log2(n) extra statements per bad row. Returns the
 * refused rows; throws what is not a data error.
 */
export async function writeIsolating<T>(
  rows: readonly T[],
  write: (rows: readonly T[]) => Promise<void>,
): Promise<RefusedRow<T>[]> {
  const refused: RefusedRow<T>[] = [];
  const go = async (part: readonly T[]): Promise<void> => {
    if (part.length === 0) return;
    try {
      await write(part);
    } catch (error) {
      if (!isDataError(error)) throw error;
      if (part.length === 1) {
        refused.push({ row: part[0]!, reason: describeDbError(error) });
        return;
      }
      const mid = Math.ceil(part.length / 2);
      await go(part.slice(0, mid));
      await go(part.slice(mid));
    }
  };
  await go(rows);
  return refused;
}

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text PostgreSQL accepts: it refuses U+0000 in `text` (an escape keeps it visible) and lone UTF-16
 * surrogates cannot be encoded as UTF-8 (they become U+FFFD).
 */
export function pgText(text: string): string {
  return text.replace(loneSurrogate, "\uFFFD").replaceAll("\0", "\\u0000");
}
