package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"time"

	"github.com/trialgate/trialgate/audit"
)

// verifyCorpus runs audit.Verifier over every record of c, as verification
// of a store or an export does, and compares the result with c's heads.
func verifyCorpus(c *corpus) audit.Report {
	v := audit.NewVerifier()
	for i := range c.records {
		if v.Add(&c.records[i]) != nil {
			break
		}
	}
	return v.Finish(c.heads)
}

// rawSHA256 computes SHA-256 over exactly the bytes a verification hashes
// (each record's prev_hash followed by its canonical entry), one digest per
// record with one reused hasher, and nothing else. It returns a byte of the
// digests so the work cannot be optimised away.
func rawSHA256(c *corpus) byte {
	h := sha256.New()
	var sum [sha256.Size]byte
	var acc byte
	for i := range c.records {
		r := &c.records[i]
		h.Reset()
		h.Write(r.PrevHash[:])
		h.Write(r.Entry)
		h.Sum(sum[:0])
		acc ^= sum[0]
	}
	return acc
}

// rawSHA256Stream computes one SHA-256 over the concatenation of the same
// bytes: the hash function's bandwidth, without a digest per record.
func rawSHA256Stream(c *corpus) [sha256.Size]byte {
	h := sha256.New()
	for i := range c.records {
		r := &c.records[i]
		h.Write(r.PrevHash[:])
		h.Write(r.Entry)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// timing is the best of several timed runs and the allocations of the last.
type timing struct {
	best   time.Duration
	allocs uint64
}

// timeIt runs fn reps times and keeps the fastest run.
func timeIt(reps int, fn func()) timing {
	var t timing
	for i := range reps {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		fn()
		d := time.Since(start)
		runtime.ReadMemStats(&after)
		if i == 0 || d < t.best {
			t.best = d
		}
		t.allocs = after.Mallocs - before.Mallocs
	}
	return t
}

// verifyPart measures in-memory verification against raw SHA-256 over the
// same bytes.
func (e *benchEnv) verifyPart(ctx context.Context) error {
	n := e.cfg.entries
	e.progress("verify: encoding and chaining %d entries", n)
	start := time.Now()
	c, err := buildCorpus(n, e.cfg.chains, 1)
	if err != nil {
		return err
	}
	built := time.Since(start)
	var rep audit.Report
	const reps = 5
	var verify, raw, stream timing
	// Interleave the three so that drift of the machine hits all alike.
	for range reps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		v := timeIt(1, func() { rep = verifyCorpus(c) })
		r := timeIt(1, func() { _ = rawSHA256(c) })
		s := timeIt(1, func() { _ = rawSHA256Stream(c) })
		verify, raw, stream = better(verify, v), better(raw, r), better(stream, s)
	}
	if !rep.OK || rep.Entries != int64(n) {
		return fmt.Errorf("the corpus did not verify: %+v %v", rep, rep.FirstBad)
	}
	mb := float64(c.bytes) / 1e6
	row := func(name string, t timing) {
		fmt.Fprintf(e.out, "| %s | %.0f | %.0f | %.3f | %.2f |\n", name, float64(n)/t.best.Seconds(), mb/t.best.Seconds(),
			t.best.Seconds(), float64(t.allocs)/float64(n))
	}
	fmt.Fprintf(e.out, "\n## Verify: %d in-memory records (%d chain(s), canonical entries avg %.0f bytes, %.1f MB hashed; built in %s), best of %d\n\n",
		n, e.cfg.chains, float64(c.bytes)/float64(n)-32, mb, built.Round(time.Millisecond), reps)
	fmt.Fprintln(e.out, "| what | entries/s | MB/s | seconds | allocs/entry |")
	fmt.Fprintln(e.out, "|---|---:|---:|---:|---:|")
	row("audit.Verifier (Add + Finish)", verify)
	row("raw SHA-256, one digest per entry, same bytes", raw)
	row("raw SHA-256, one stream over the same bytes", stream)
	fmt.Fprintf(e.out, "\nverify / raw per-entry SHA-256 = **%.2f**, verify / raw stream = **%.2f** (target >= 0.50)\n",
		raw.best.Seconds()/verify.best.Seconds(), stream.best.Seconds()/verify.best.Seconds())
	return nil
}

func better(a, b timing) timing {
	if a.best == 0 || b.best < a.best {
		return b
	}
	return a
}
