package audit

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Filter selects entries for a query or an export. Zero fields match all.
type Filter struct {
	Chains  []string // chain names; nil means every chain the caller may see
	Object  string   // "type/id"
	Actor   string   // actor id or username
	Action  Action
	Outcome Outcome
	// PostLock keeps only what touched locked data: refused changes
	// (access.denied_locked) and reads (access.after_lock).
	PostLock bool
	From     time.Time // event time >= From
	To       time.Time // event time < To
	Limit    int       // 0 means no limit
}

// Fields returns the filter's set criteria, as recorded in the audit entry
// of the query that used it.
func (f Filter) Fields() map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("actor", f.Actor)
	set("action", string(f.Action))
	set("object", f.Object)
	set("outcome", string(f.Outcome))
	if f.PostLock {
		m["post_lock"] = "true"
	}
	if !f.From.IsZero() {
		m["from"] = f.From.UTC().Format(TimeFormat)
	}
	if !f.To.IsZero() {
		m["to"] = f.To.UTC().Format(TimeFormat)
	}
	if f.Limit > 0 {
		m["limit"] = strconv.Itoa(f.Limit)
	}
	return m
}

// Format is an export format.
type Format string

// Export formats.
const (
	JSON  Format = "json"
	JSONL Format = "jsonl"
	CSV   Format = "csv"
)

// ContentType returns the media type of f.
func (f Format) ContentType() string {
	switch f {
	case JSONL:
		return "application/jsonl"
	case CSV:
		return "text/csv; charset=utf-8"
	default:
		return "application/json"
	}
}

// Writer streams records in one format. Call Write for each record, then
// Close; nothing is held in memory beyond one record.
type Writer interface {
	Write(r *Record) error
	Close() error
}

// NewWriter returns a Writer for f over w.
func NewWriter(w io.Writer, f Format) (Writer, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	switch f {
	case JSONL:
		return &jsonlWriter{w: bw}, nil
	case JSON:
		return &jsonWriter{jsonlWriter{w: bw}, false}, nil
	case CSV:
		cw := csv.NewWriter(bw)
		return &csvWriter{w: cw, bw: bw}, nil
	}
	return nil, fmt.Errorf("audit: unknown export format %q", f)
}

// jsonlWriter writes one JSON object per line:
//
//	{"chain":"...","seq":1,"chained_at":"...","prev_hash":"...","hash":"...","entry":<canonical>}
//
// The entry member is the stored canonical bytes, verbatim, so the export can
// be verified offline byte for byte.
type jsonlWriter struct {
	w   *bufio.Writer
	buf []byte
}

func (j *jsonlWriter) appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"chain":`...)
	b = strconv.AppendQuote(b, r.Chain)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"chained_at":"`...)
	b = r.ChainedAt.UTC().AppendFormat(b, TimeFormat)
	b = append(b, `","prev_hash":"`...)
	b = appendHex(b, r.PrevHash[:])
	b = append(b, `","hash":"`...)
	b = appendHex(b, r.Hash[:])
	b = append(b, `","entry":`...)
	b = append(b, r.Entry...)
	return append(b, '}')
}

func (j *jsonlWriter) Write(r *Record) error {
	j.buf = append(j.appendRecord(j.buf[:0], r), '\n')
	_, err := j.w.Write(j.buf)
	return err
}

func (j *jsonlWriter) Close() error { return j.w.Flush() }

type jsonWriter struct {
	jsonlWriter
	started bool
}

func (j *jsonWriter) Write(r *Record) error {
	sep := byte(',')
	if !j.started {
		sep, j.started = '[', true
	}
	j.buf = j.appendRecord(append(j.buf[:0], sep, '\n'), r)
	_, err := j.w.Write(j.buf)
	return err
}

func (j *jsonWriter) Close() error {
	end := "\n]\n"
	if !j.started {
		end = "[]\n"
	}
	if _, err := j.w.WriteString(end); err != nil {
		return err
	}
	return j.w.Flush()
}

const hexDigits = "0123456789abcdef"

func appendHex(b, src []byte) []byte {
	for _, c := range src {
		b = append(b, hexDigits[c>>4], hexDigits[c&0x0f])
	}
	return b
}

// CSVHeader lists the columns of a CSV export.
var CSVHeader = []string{"chain", "seq", "time", "chained_at", "actor_id", "actor_username", "actor_name", "actor_role",
	"session", "ip", "user_agent", "action", "object", "trial", "site", "outcome", "reason",
	"before", "after", "signature", "prev_hash", "hash"}

type csvWriter struct {
	w       *csv.Writer
	bw      *bufio.Writer
	started bool
}

func (c *csvWriter) Write(r *Record) error {
	if !c.started {
		c.started = true
		if err := c.w.Write(CSVHeader); err != nil {
			return err
		}
	}
	e, err := Decode(r.Entry)
	if err != nil {
		return fmt.Errorf("audit: csv: chain %s seq %d: %w", r.Chain, r.Seq, err)
	}
	sig := ""
	if e.Signature != nil {
		b, _ := json.Marshal(e.Signature)
		sig = string(b)
	}
	return c.w.Write([]string{
		r.Chain, strconv.FormatUint(r.Seq, 10), e.Time.Format(TimeFormat), r.ChainedAt.UTC().Format(TimeFormat),
		e.Actor.ID, e.Actor.Username, e.Actor.FullName, e.Actor.Role,
		e.Actor.Session, e.Actor.IP, e.Actor.UserAgent, string(e.Action), e.Object.String(), e.Trial, e.Site,
		string(e.Outcome), e.Reason, raw(e.Before), raw(e.After), sig, r.PrevHash.String(), r.Hash.String(),
	})
}

func raw(v any) string {
	if m, ok := v.(json.RawMessage); ok {
		return string(m)
	}
	return ""
}

func (c *csvWriter) Close() error {
	if !c.started {
		if err := c.w.Write(CSVHeader); err != nil {
			return err
		}
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// ReadJSONL reads a JSON Lines export and calls fn for each record, in file
// order. The entry bytes are taken verbatim from the line, so an export can be
// verified offline.
func ReadJSONL(r io.Reader, fn func(*Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var line struct {
		Chain     string          `json:"chain"`
		Seq       uint64          `json:"seq"`
		ChainedAt string          `json:"chained_at"`
		PrevHash  Hash            `json:"prev_hash"`
		Hash      Hash            `json:"hash"`
		Entry     json.RawMessage `json:"entry"`
	}
	for n := 1; sc.Scan(); n++ {
		line.Entry = nil
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return fmt.Errorf("audit: line %d: %w", n, err)
		}
		at, err := time.Parse(TimeFormat, line.ChainedAt)
		if err != nil {
			return fmt.Errorf("audit: line %d: chained_at: %w", n, err)
		}
		e, err := Decode(line.Entry)
		if err != nil {
			return fmt.Errorf("audit: line %d: %w", n, err)
		}
		rec := &Record{Chain: line.Chain, Seq: line.Seq, EventTime: e.Time, ChainedAt: at,
			PrevHash: line.PrevHash, Hash: line.Hash, Entry: append([]byte(nil), line.Entry...)}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return sc.Err()
}

// VerifyJSONL checks a JSON Lines export offline, without a database:
// every hash and link of its records, or only those of chain when chain is
// not "". An export carries no chain heads, so what it cannot show is an
// entry cut off its end.
func VerifyJSONL(r io.Reader, chain string) (Report, error) {
	v := NewVerifier()
	err := ReadJSONL(r, func(rec *Record) error {
		if chain != "" && rec.Chain != chain {
			return nil
		}
		v.Add(rec)
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: read export: %w", err)
	}
	return v.Finish(nil), nil
}

// Valid reports whether f is one of the formats NewWriter writes.
func (f Format) Valid() bool { return f == JSON || f == JSONL || f == CSV }
