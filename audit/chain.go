package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// DefaultMaxSkew is how far an entry's event time may lie after the time the
// sequencer chained it: the clocks of two replicas may disagree this much.
const DefaultMaxSkew = 5 * time.Second

// Hash is a SHA-256 digest.
type Hash [sha256.Size]byte

// String returns the lower-case hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText implements encoding.TextMarshaler (hex).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler (hex).
func (h *Hash) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(h) {
		return fmt.Errorf("audit: hash must be %d hex digits", 2*len(h))
	}
	_, err := hex.Decode(h[:], b)
	return err
}

// HashFrom copies a stored digest into a Hash.
func HashFrom(b []byte) (Hash, error) {
	var h Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("audit: stored hash has %d bytes, want %d", len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// Link returns the chain hash of an entry: SHA-256(prev || canonical).
func Link(prev Hash, canonical []byte) Hash {
	d := sha256.New()
	d.Write(prev[:])
	d.Write(canonical)
	var h Hash
	d.Sum(h[:0])
	return h
}

// Record is an entry as chained and stored.
type Record struct {
	Chain     string
	Seq       uint64
	EventTime time.Time // the entry's time, as indexed beside it
	ChainedAt time.Time
	PrevHash  Hash
	Hash      Hash
	Entry     []byte // canonical bytes, exactly as hashed
}

// Head is the newest entry of a chain.
type Head struct {
	Chain     string
	Seq       uint64
	Hash      Hash
	ChainedAt time.Time
}

// Next chains canonical bytes after h and returns the new record; h advances.
// chainedAt is held non-decreasing: a clock that went backwards yields the
// previous chaining time, and Next reports it so the caller can record the
// anomaly.
func (h *Head) Next(canonical []byte, eventTime, chainedAt time.Time) (r Record, clockBack bool) {
	if chainedAt.Before(h.ChainedAt) {
		chainedAt, clockBack = h.ChainedAt, true
	}
	r = Record{
		Chain:     h.Chain,
		Seq:       h.Seq + 1,
		EventTime: eventTime,
		ChainedAt: chainedAt,
		PrevHash:  h.Hash,
		Hash:      Link(h.Hash, canonical),
		Entry:     canonical,
	}
	h.Seq, h.Hash, h.ChainedAt = r.Seq, r.Hash, r.ChainedAt
	return r, clockBack
}

// Problem names the first entry that failed verification.
type Problem struct {
	Chain  string `json:"chain"`
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit: chain %s seq %d: %s", p.Chain, p.Seq, p.Reason)
}

// Report is the result of a verification.
type Report struct {
	OK       bool          `json:"ok"`
	Entries  int64         `json:"entries"`
	Chains   int           `json:"chains"`
	MaxLag   time.Duration `json:"-"`
	FirstBad *Problem      `json:"first_bad,omitempty"`
}

// Verifier checks records chain by chain. Feed it every record of the chains
// being verified, each chain in ascending seq order (chains may interleave),
// then call Finish with the recorded heads.
type Verifier struct {
	// MaxSkew bounds how far an event time may lie after its chaining time.
	MaxSkew time.Duration

	chains   map[string]*Head
	entries  int64
	maxLag   time.Duration
	firstBad *Problem
}

// NewVerifier returns a Verifier with DefaultMaxSkew.
func NewVerifier() *Verifier {
	return &Verifier{MaxSkew: DefaultMaxSkew, chains: make(map[string]*Head)}
}

// Add checks one record. It returns the first problem found so far, so a
// caller may stop reading at the first bad entry.
func (v *Verifier) Add(r *Record) *Problem {
	if v.firstBad != nil {
		return v.firstBad
	}
	h := v.chains[r.Chain]
	if h == nil {
		h = &Head{Chain: r.Chain}
		v.chains[r.Chain] = h
	}
	v.entries++
	bad := func(format string, args ...any) *Problem {
		v.firstBad = &Problem{Chain: r.Chain, Seq: r.Seq, Reason: fmt.Sprintf(format, args...)}
		return v.firstBad
	}
	switch {
	case r.Seq != h.Seq+1:
		if h.Seq == 0 {
			return bad("chain starts at seq %d, want 1 (entries before it are missing)", r.Seq)
		}
		return bad("seq follows %d: entries %d..%d are missing or out of order", h.Seq, h.Seq+1, r.Seq-1)
	case r.PrevHash != h.Hash:
		return bad("prev_hash does not match the hash of seq %d", h.Seq)
	case Link(r.PrevHash, r.Entry) != r.Hash:
		return bad("hash does not match the entry's content")
	case r.ChainedAt.Before(h.ChainedAt):
		return bad("chained at %s, before seq %d (%s)", r.ChainedAt.UTC().Format(TimeFormat), h.Seq, h.ChainedAt.UTC().Format(TimeFormat))
	case r.EventTime.After(r.ChainedAt.Add(v.MaxSkew)):
		return bad("event time %s is after its chaining time %s", r.EventTime.UTC().Format(TimeFormat), r.ChainedAt.UTC().Format(TimeFormat))
	}
	if lag := r.ChainedAt.Sub(r.EventTime); lag > v.maxLag {
		v.maxLag = lag
	}
	h.Seq, h.Hash, h.ChainedAt = r.Seq, r.Hash, r.ChainedAt
	return nil
}

// Finish compares each verified chain with its recorded head and returns the
// report. With heads nil (an export verified offline) there is nothing to
// compare; otherwise every chain fed to Add must have a head, and a head whose
// chain was never fed means all its entries are missing.
func (v *Verifier) Finish(heads []Head) Report {
	if v.firstBad == nil && heads != nil {
		known := make(map[string]bool, len(heads))
		for _, h := range heads {
			known[h.Chain] = true
		}
		for _, got := range v.chains {
			if !known[got.Chain] {
				v.firstBad = &Problem{Chain: got.Chain, Seq: got.Seq, Reason: "no chain head is recorded for this chain"}
				break
			}
		}
	}
	if v.firstBad == nil {
		for _, want := range heads {
			got := v.chains[want.Chain]
			if got == nil {
				got = &Head{Chain: want.Chain}
				v.chains[want.Chain] = got
			}
			switch {
			case got.Seq < want.Seq:
				v.firstBad = &Problem{Chain: want.Chain, Seq: got.Seq + 1,
					Reason: fmt.Sprintf("entries %d..%d are missing (the chain head is at %d)", got.Seq+1, want.Seq, want.Seq)}
			case got.Seq > want.Seq:
				v.firstBad = &Problem{Chain: want.Chain, Seq: want.Seq + 1,
					Reason: fmt.Sprintf("entries after the chain head (%d) were added outside the sequencer", want.Seq)}
			case got.Hash != want.Hash:
				v.firstBad = &Problem{Chain: want.Chain, Seq: want.Seq, Reason: "hash does not match the recorded chain head"}
			}
			if v.firstBad != nil {
				break
			}
		}
	}
	return Report{OK: v.firstBad == nil, Entries: v.entries, Chains: len(v.chains), MaxLag: v.maxLag, FirstBad: v.firstBad}
}
