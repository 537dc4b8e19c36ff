/**
 * Recognises a lock-order deadlock of Pebble v2.10.3 in a Go goroutine dump
 * (what the Go runtime prints on SIGQUIT).
 *
 * Pebble's in-memory store has one RWMutex for the store and one per
 * authorization, taken in two orders:
 *
 * - a new order looks for a reusable authorization: `FindValidAuthorization`
 *   holds the store's read lock and read-locks every authorization in turn;
 * - a POST (or POST-as-GET) to an authorization URL: the `Authz` handler
 *   write-locks the authorization, then reads the account from the store.
 *
 * Go's RWMutex queues new readers behind a waiting writer, so once a third
 * request waits to write the store (another new order adding its challenges),
 * the handler waits for the store, the store's writer waits for
 * `FindValidAuthorization` to finish, and that waits for the handler's
 * authorization. Nothing moves again: every later request that needs the store
 * queues behind the writer, and Pebble answers nothing but its directory.
 * Clients that start many orders at once while reading authorizations (the
 * `acme` benchmark's 200 certificates) hit it now and then.
 */

interface Goroutine {
  readonly id: string;
  /** The state in brackets, e.g. "sync.RWMutex.RLock". */
  readonly state: string;
  /** Pebble's frames, innermost first, without module path and arguments. */
  readonly frames: readonly string[];
}

function goroutines(dump: string): Goroutine[] {
  const out: Goroutine[] = [];
  for (const block of dump.split(/\n(?=goroutine \d+ )/)) {
    const head = /^goroutine (\d+) [^[]*\[([^,\]]+)/.exec(block);
    if (head === null) continue;
    const frames: string[] = [];
    for (const line of block.split("\n")) {
      const at = line.indexOf("letsencrypt/pebble/v2/");
      if (at < 0 || line.startsWith("\t")) continue;
      frames.push(line.slice(at + "letsencrypt/pebble/v2/".length).replace(/\((0x|\{|\.\.\.).*$/, ""));
    }
    out.push({ id: head[1] as string, state: head[2] as string, frames });
  }
  return out;
}

const STORE = "db.(*MemoryStore).";
const isReadWait = (g: Goroutine) => g.state === "sync.RWMutex.RLock";
const isWriteWait = (g: Goroutine) => g.state === "sync.RWMutex.Lock" || g.state === "sync.Mutex.Lock";

/**
 * A sentence naming the three sides of the deadlock when `dump` shows it, or
 * undefined when it does not (including a dump of a Pebble that was merely
 * busy or slow).
 */
export function pebbleDeadlock(dump: string): string | undefined {
  const all = goroutines(dump);
  const finder = all.find((g) => isReadWait(g) && g.frames[0] === `${STORE}FindValidAuthorization`);
  const holder = all.find(
    // In the handler after it locked the authorization: not still checking the request's signature.
    (g) =>
      isReadWait(g) &&
      (g.frames[0] ?? "").startsWith(STORE) &&
      g.frames.includes("wfe.(*WebFrontEndImpl).Authz") &&
      !g.frames.includes("wfe.(*WebFrontEndImpl).verifyPOST"),
  );
  const writer = all.find((g) => isWriteWait(g) && (g.frames[0] ?? "").startsWith(STORE));
  if (finder === undefined || holder === undefined || writer === undefined) return undefined;
  const blocked = all.filter(
    (g) => (isReadWait(g) || isWriteWait(g)) && (g.frames[0] ?? "").startsWith(STORE),
  ).length;
  const name = (frame: string | undefined) => (frame ?? "?").replace(/^db\.\(\*MemoryStore\)\./, "");
  return (
    `Pebble deadlocked on its own locks: FindValidAuthorization (goroutine ${finder.id}, a new order) holds the store's ` +
    `read lock and waits for an authorization that the authorization handler (goroutine ${holder.id}) holds while it ` +
    `waits for the store (${name(holder.frames[0])}) behind a queued writer (goroutine ${writer.id}, ${name(writer.frames[0])}); ` +
    `${blocked} requests were waiting on the store`
  );
}
