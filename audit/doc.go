// Package audit defines TrialGate's audit trail: what an entry holds, how it
// is encoded and hashed, how a chain is verified, and how entries are
// exported. It does no I/O beyond the readers and writers it is handed; the
// db package stores entries and runs the sequencer that chains them.
//
// # Entries and their canonical bytes
//
// An [Entry] is encoded once, when the change it records is made, as RFC 8785
// (JSON Canonicalization Scheme) canonical JSON: object members sorted by
// their UTF-16 code units, no insignificant white space, numbers in their
// ECMAScript form, strings with the minimal escapes. Every entry carries the
// schema version in member "v" (currently 1). Members of version 1:
//
//	v           schema version (1)
//	time        event time, server UTC, microseconds: "2006-01-02T15:04:05.000000Z"
//	actor       {"id", "username", "name", "role"}; system actors have id "system:<component>"
//	session     the caller's session id (never its token), if any
//	ip          the caller's address, if any
//	user_agent  the caller's User-Agent, if any
//	action      a registered action code, e.g. "audit.queried" (see [Actions])
//	object      {"type", "id"}, e.g. {"type":"user","id":"u_4f..."}
//	trial, site the trial and site the object belongs to ("" for the system chain)
//	before      the changed fields before the change (JSON object), if any
//	after       the changed fields after the change (JSON object), if any
//	reason      why, required when a saved value is changed
//	signature   for e-signed actions: {"signer", "name", "meaning", "time", "record_sha256"}
//	outcome     "success", "denied" or "failed"
//
// Empty members are omitted. The canonical bytes are stored exactly as they
// were hashed and are never re-serialised to check them: verification and
// export use the stored bytes.
//
// # Chains
//
// There is one chain per trial (named "trial/<id>") and one system chain
// ("system") for logins, accounts, grants and configuration, so a trial's
// trail can be exported and verified without other sponsors' data. Within a
// chain, entries have a gap-free sequence number starting at 1 and
//
//	hash(n) = SHA-256(hash(n-1) || canonical(n)),  hash(0) = 32 zero bytes
//
// The sequencer also records when it chained each entry (chained_at, not
// covered by the hash); chaining times never decrease along a chain and an
// entry is never chained before its event time (allowing [DefaultMaxSkew] of
// clock skew between replicas).
//
// # What verification detects
//
// [Verifier] recomputes every hash and checks the links, the sequence and
// the times, and the final entry against the recorded chain head. It detects
// any change to stored bytes or hashes of an entry that is followed by an
// unchanged entry or matched against the head, and any removed or inserted
// entry before the head. Until signed checkpoints exist, it cannot detect a
// database administrator who rewrites an entry and recomputes every later
// hash and the head, or who removes the newest entries and rewinds the head
// to match: that needs an anchor outside the database.
package audit
