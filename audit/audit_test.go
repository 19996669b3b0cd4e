package audit

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 15, 4, 5, 123456789, time.UTC)

func entry(action Action) *Entry {
	return &Entry{Time: t0, Actor: Actor{ID: "u_1", Username: "alice", FullName: "Alice Ä", Role: "inspector",
		Session: "s_1", IP: "192.0.2.7", UserAgent: "test/1"},
		Trial: "T1", Site: "S1",
		Event: Event{Action: action, Object: Object{Type: "user", ID: "u_2"},
			Before: map[string]any{"active": true}, After: map[string]any{"active": false, "note": "<&>"}, Reason: "left the study"}}
}

func TestEncodeCanonical(t *testing.T) {
	c, err := Encode(entry(ActionUserDeactivated))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"user.deactivated","actor":{"id":"u_1","name":"Alice Ä","role":"inspector","username":"alice"},` +
		`"after":{"active":false,"note":"<&>"},"before":{"active":true},"ip":"192.0.2.7","object":{"id":"u_2","type":"user"},` +
		`"outcome":"success","reason":"left the study","session":"s_1","site":"S1","time":"2026-11-23T15:04:05.123456Z",` +
		`"trial":"T1","user_agent":"test/1","v":1}`
	if string(c) != want {
		t.Fatalf("canonical:\n got %s\nwant %s", c, want)
	}
	// Decoding and re-encoding yields the same bytes.
	e, err := Decode(c)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c, c2) {
		t.Fatalf("re-encoded:\n got %s\nwant %s", c2, c)
	}
}

func TestEncodeRefuses(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Entry)
	}{
		{"no time", func(e *Entry) { e.Time = time.Time{} }},
		{"no actor", func(e *Entry) { e.Actor.ID = "" }},
		{"unknown action", func(e *Entry) { e.Action = "user.renamed_everything" }},
		{"bad outcome", func(e *Entry) { e.Outcome = "partial" }},
		{"slash in trial", func(e *Entry) { e.Trial = "T1/../x" }},
		{"before not an object", func(e *Entry) { e.Before = []int{1} }},
		{"after not encodable", func(e *Entry) { e.After = map[string]any{"f": func() {}} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := entry(ActionUserCreated)
			tc.mod(e)
			if _, err := Encode(e); err == nil {
				t.Fatal("encoded")
			}
		})
	}
}

func TestActionsRegistry(t *testing.T) {
	form := regexp.MustCompile(`^[a-z]+(_[a-z]+)*\.[a-z]+(_[a-z]+)*$`)
	seen := map[string]bool{}
	for a, desc := range Actions {
		if !form.MatchString(string(a)) {
			t.Errorf("action %q is not of the form area.verb", a)
		}
		if desc == "" || seen[desc] {
			t.Errorf("action %q needs a unique description", a)
		}
		seen[desc] = true
	}
}

// chain builds n chained records on chain c.
func chain(t testing.TB, c string, n int) []Record {
	h := &Head{Chain: c}
	var rs []Record
	for i := range n {
		e := entry(ActionAuditQueried)
		e.Time = t0.Add(time.Duration(i) * time.Second)
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := h.Next(b, e.Time, e.Time.Add(50*time.Millisecond))
		rs = append(rs, r)
	}
	return rs
}

func TestVerifier(t *testing.T) {
	tests := []struct {
		name    string
		mod     func([]Record) []Record
		heads   func([]Record) []Head
		wantSeq uint64 // 0: verifies
	}{
		{"intact", nil, nil, 0},
		{"content changed", func(r []Record) []Record {
			r[2].Entry = bytes.Replace(r[2].Entry, []byte("alice"), []byte("alicf"), 1)
			return r
		}, nil, 3},
		{"hash changed", func(r []Record) []Record { r[1].Hash[0] ^= 1; return r }, nil, 2},
		{"rehashed without relinking", func(r []Record) []Record {
			r[1].Entry = append([]byte(nil), r[0].Entry...)
			r[1].Hash = Link(r[1].PrevHash, r[1].Entry)
			return r
		}, nil, 3},
		{"entry removed", func(r []Record) []Record { return append(r[:2], r[3:]...) }, nil, 4},
		{"first removed", func(r []Record) []Record { return r[1:] }, nil, 2},
		{"reordered", func(r []Record) []Record { r[1], r[2] = r[2], r[1]; return r }, nil, 3},
		{"chaining time decreases", func(r []Record) []Record { r[3].ChainedAt = r[2].ChainedAt.Add(-time.Second); return r }, nil, 4},
		{"event after chaining", func(r []Record) []Record { r[4].EventTime = r[4].ChainedAt.Add(time.Hour); return r }, nil, 5},
		{"tail removed, head kept", func(r []Record) []Record { return r[:4] }, func(r []Record) []Head {
			return []Head{{Chain: "c", Seq: 5, Hash: r[4].Hash}}
		}, 5},
		{"head matches", nil, func(r []Record) []Head { return []Head{{Chain: "c", Seq: 5, Hash: r[4].Hash}} }, 0},
		{"head hash differs", nil, func(r []Record) []Head { return []Head{{Chain: "c", Seq: 5, Hash: r[3].Hash}} }, 5},
		{"no head recorded", nil, func(r []Record) []Head { return []Head{} }, 5},
		{"entries past the head", nil, func(r []Record) []Head { return []Head{{Chain: "c", Seq: 3, Hash: r[2].Hash}} }, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := chain(t, "c", 5)
			var heads []Head
			if tc.heads != nil {
				heads = tc.heads(rs)
			}
			if tc.mod != nil {
				rs = tc.mod(rs)
			}
			v := NewVerifier()
			for i := range rs {
				if v.Add(&rs[i]) != nil {
					break
				}
			}
			rep := v.Finish(heads)
			switch {
			case tc.wantSeq == 0 && !rep.OK:
				t.Fatalf("bad: %+v", rep.FirstBad)
			case tc.wantSeq != 0 && rep.OK:
				t.Fatal("verified")
			case tc.wantSeq != 0 && rep.FirstBad.Seq != tc.wantSeq:
				t.Fatalf("first bad = %+v, want seq %d", rep.FirstBad, tc.wantSeq)
			}
		})
	}
}

func TestHeadHoldsTimeWhenClockGoesBack(t *testing.T) {
	h := &Head{Chain: "c"}
	r1, back := h.Next([]byte("{}"), t0, t0)
	if back {
		t.Fatal("clock back on first entry")
	}
	r2, back := h.Next([]byte("{}"), t0.Add(-time.Hour), t0.Add(-time.Hour))
	if !back || !r2.ChainedAt.Equal(r1.ChainedAt) {
		t.Fatalf("back=%v chained %v, want held at %v", back, r2.ChainedAt, r1.ChainedAt)
	}
}

func TestExportFormats(t *testing.T) {
	rs := chain(t, "trial/T1", 3)
	for _, f := range []Format{JSONL, JSON, CSV} {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, f)
		if err != nil {
			t.Fatal(err)
		}
		for i := range rs {
			if err := w.Write(&rs[i]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		switch f {
		case JSON:
			var out []struct {
				Seq   uint64          `json:"seq"`
				Entry json.RawMessage `json:"entry"`
			}
			if err := json.Unmarshal(buf.Bytes(), &out); err != nil || len(out) != 3 || !bytes.Equal(out[2].Entry, rs[2].Entry) {
				t.Fatalf("json: %v %d", err, len(out))
			}
		case CSV:
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != 4 || !strings.HasPrefix(lines[0], "chain,seq,time") || !strings.Contains(lines[1], "audit.queried") {
				t.Fatalf("csv:\n%s", buf.String())
			}
		case JSONL:
			v := NewVerifier()
			n := 0
			err := ReadJSONL(&buf, func(r *Record) error {
				if !bytes.Equal(r.Entry, rs[n].Entry) || r.Hash != rs[n].Hash {
					t.Errorf("record %d differs", n)
				}
				n++
				v.Add(r)
				return nil
			})
			if err != nil || n != 3 || !v.Finish(nil).OK {
				t.Fatalf("jsonl: err %v, %d records, %+v", err, n, v.Finish(nil).FirstBad)
			}
		}
	}
	// An empty export is still valid.
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, JSON)
	w.Close()
	if strings.TrimSpace(buf.String()) != "[]" {
		t.Fatalf("empty json = %q", buf.String())
	}
	if _, err := NewWriter(&buf, "pdf"); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func FuzzReadJSONL(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, JSONL)
	for _, r := range chain(f, "system", 2) {
		w.Write(&r)
	}
	w.Close()
	f.Add(buf.Bytes())
	f.Add([]byte(`{"chain":"x","seq":1,"chained_at":"2026-01-01T00:00:00.000000Z","prev_hash":"00","hash":"00","entry":{}}`))
	f.Add([]byte("\n\n{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v := NewVerifier()
		ReadJSONL(bytes.NewReader(data), func(r *Record) error { v.Add(r); return nil })
		v.Finish(nil)
	})
}

func FuzzDecode(f *testing.F) {
	c, _ := Encode(entry(ActionLogin))
	f.Add(c)
	f.Add([]byte(`{"v":1,"time":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode or be refused cleanly.
		Encode(e)
	})
}
