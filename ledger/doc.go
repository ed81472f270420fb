// Package ledger is clawd's durable usage ledger: raw usage events with ids
// that make a retry harmless, hourly and daily roll-ups per (namespace,
// hour or day, model) kept in the same transaction, which reports, exports
// and billing read (a report over months reads the daily rows, the hours
// around whole days the hourly ones), and retention of the raw events by
// whole UTC days (the roll-ups are kept). SQLite in the data dir by default (modernc.org/sqlite,
// pure Go), PostgreSQL for a cluster where every node writes to the same
// database; one schema, the same tests run against both.
//
// What a crash can lose, and what it never does:
//
//   - Write returns only after its transaction committed durably (SQLite in
//     WAL mode with synchronous=FULL: the WAL is fsynced at each commit, so a
//     returned Write survives kill -9 and a power loss; PostgreSQL with its
//     default synchronous_commit=on).
//
//   - A Writer batches events in memory off the hot path: a crash loses what
//     was added since its last flush, at most about FlushEvery (1 s by
//     default) of events. Flush returns once what was added before it is
//     durable.
//
//   - Nothing is ever counted twice: an event's (day, ID) is claimed by the
//     same transaction that inserts its row and adds it to the roll-ups
//     (INSERT … ON CONFLICT DO NOTHING; only rows actually inserted are
//     rolled up), so a retried batch, a batch whose commit answer was lost,
//     or two nodes writing the same event count it once. Ids are kept as
//     long as raw events are (the retention window); an event older than
//     the retention horizon is refused (not inserted, not rolled up), so a
//     very late retry cannot be counted again after its id was dropped.
//
//   - A Writer on PostgreSQL runs two transactions at once; when one fails,
//     its events (and any not yet started) are retried by the next flush,
//     and those that committed stay committed.
//
// Counts are integers throughout: CPU time is stored in µs and memory in
// MiB·s, converted to CPU-seconds and GiB-hours only when reported.
package ledger
