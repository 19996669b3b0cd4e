package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
)

// exportTrial is the trial whose chain the export part loads and exports.
const exportTrial = "bench-export"

// loadEntries records n realistic events of trial through the real path:
// db.DB.Write transactions of up to perTx tx.Audit events each, loaders of
// them at a time. It returns once they are committed (queued), not chained.
func loadEntries(ctx context.Context, d *db.DB, trial string, n, perTx, loaders int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, loaders)
	for l := range loaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGenerator(0xe0 + uint64(l))
			for {
				hi := next.Add(int64(perTx))
				lo := hi - int64(perTx)
				if lo >= int64(n) {
					return
				}
				hi = min(hi, int64(n))
				// One transaction is one scope: its entries carry the
				// trial, not the sites their events were generated for.
				err := d.Write(ctx, g.actor(), db.TrialScope(trial), func(tx *db.Tx) error {
					for range hi - lo {
						if err := tx.Audit(g.event(trial).Event); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					errs[l] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// exportJSONL writes chain as JSON Lines to w through db.DB.AuditRecords and
// audit.NewWriter, as `gateway audit export` does, and returns the count.
func exportJSONL(ctx context.Context, d *db.DB, chain string, w io.Writer) (int64, error) {
	jw, err := audit.NewWriter(w, audit.JSONL)
	if err != nil {
		return 0, err
	}
	var n int64
	err = d.AuditRecords(ctx, audit.Filter{Chains: []string{chain}}, func(r *audit.Record) error {
		n++
		return jw.Write(r)
	})
	if err != nil {
		return n, err
	}
	return n, jw.Close()
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// selectChainRecords is the query db.DB.AuditRecords and db.DB.VerifyAudit
// run for one chain (db/trail.go), for EXPLAIN.
const selectChainRecords = `SELECT chain, seq, event_us, chained_us, prev_hash, hash, canonical FROM audit_log
	WHERE chain IN ($1) ORDER BY chain, seq`

// planOf returns the top node of the plan PostgreSQL chooses for reading
// chain, e.g. "Index Scan using audit_log_pkey on audit_log" or "Sort".
func planOf(ctx context.Context, admin *sql.DB, chain string) (string, error) {
	var top string
	if err := admin.QueryRowContext(ctx, "EXPLAIN "+selectChainRecords, chain).Scan(&top); err != nil {
		return "", fmt.Errorf("explain: %w", err)
	}
	top, _, _ = strings.Cut(strings.TrimSpace(top), "  (cost")
	return top, nil
}

// step is one timed step of the export part.
type step struct {
	name    string
	stats   string // "as loaded" or "analyzed"
	plan    string
	elapsed time.Duration
	notes   string
}

// exportPart loads N entries into a fresh database, then times
// db.DB.VerifyAudit and the JSON Lines export of them: first with the
// statistics autovacuum has gathered by then, then after ANALYZE.
func (e *benchEnv) exportPart(ctx context.Context) error {
	c := e.cfg
	dbURL, drop, err := createDatabase(ctx, c.serverURL, "tg_bench_export")
	if err != nil {
		return err
	}
	e.addDrop(dbURL, drop)
	d, err := postgres.Open(ctx, dbURL, c.loaders+4, db.Options{Logger: e.log, SequencerInterval: c.interval})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		return err
	}
	d.Start(ctx)
	admin, err := openPool(ctx, dbURL, 1)
	if err != nil {
		return err
	}
	defer admin.Close()
	chain := audit.ChainOf(exportTrial)

	e.progress("export: loading %d entries (%d loaders, 1,000 entries per transaction)", c.entries, c.loaders)
	start := time.Now()
	if err := loadEntries(ctx, d, exportTrial, c.entries, 1000, c.loaders); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	committed := time.Since(start)
	if err := d.WaitChained(ctx); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	chained := time.Since(start)
	st := d.Stats()

	path := c.out
	if path == "" {
		f, err := os.CreateTemp("", "trialgate-export-*.jsonl")
		if err != nil {
			return err
		}
		path = f.Name()
		f.Close()
	}
	if !c.keep {
		defer os.Remove(path)
	}

	var steps []step
	// timed runs fn and records it as a step, with the plan of its query.
	timed := func(name, stats string, fn func() (string, error)) error {
		plan, err := planOf(ctx, admin, chain)
		if err != nil {
			return err
		}
		e.progress("export: %s (%s; plan: %s)", name, stats, plan)
		start := time.Now()
		notes, err := fn()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		steps = append(steps, step{name: name, stats: stats, plan: plan, elapsed: time.Since(start), notes: notes})
		return nil
	}
	verify := func() (string, error) {
		rep, err := d.VerifyAudit(ctx, chain)
		if err != nil {
			return "", err
		}
		if !rep.OK || rep.Entries != int64(c.entries) {
			return "", fmt.Errorf("the loaded chain does not verify: %+v %v", rep, rep.FirstBad)
		}
		return "", nil
	}
	var exported int64
	toFile := func() (string, error) {
		f, err := os.Create(path)
		if err != nil {
			return "", err
		}
		cw := &countingWriter{w: f}
		n, err := exportJSONL(ctx, d, chain, cw)
		if err == nil {
			err = f.Sync() // on disk, as an inspector would receive it
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		if n != int64(c.entries) {
			return "", fmt.Errorf("exported %d records, want %d", n, c.entries)
		}
		exported = cw.n
		return fmt.Sprintf("%.0f MB, fsynced", float64(cw.n)/1e6), nil
	}
	toDiscard := func() (string, error) {
		n, err := exportJSONL(ctx, d, chain, io.Discard)
		if err == nil && n != int64(c.entries) {
			err = fmt.Errorf("exported %d records, want %d", n, c.entries)
		}
		return "", err
	}
	const asLoaded, analyzed = "as loaded", "analyzed"
	for _, s := range []struct {
		name  string
		stats string
		fn    func() (string, error)
	}{
		{"db.DB.VerifyAudit (reads and recomputes the chain)", asLoaded, verify},
		{"export JSON Lines to a file (AuditRecords + audit.NewWriter)", asLoaded, toFile},
		{"", analyzed, nil},
		{"db.DB.VerifyAudit (reads and recomputes the chain)", analyzed, verify},
		{"export JSON Lines to a file (AuditRecords + audit.NewWriter)", analyzed, toFile},
		{"export JSON Lines to io.Discard", analyzed, toDiscard},
	} {
		if s.fn == nil {
			if _, err := admin.ExecContext(ctx, "ANALYZE audit_log"); err != nil {
				return fmt.Errorf("analyze: %w", err)
			}
			continue
		}
		if err := timed(s.name, s.stats, s.fn); err != nil {
			return err
		}
	}

	// The export must verify offline, byte for byte.
	e.progress("export: verifying the file offline")
	start = time.Now()
	rf, err := os.Open(path)
	if err != nil {
		return err
	}
	v := audit.NewVerifier()
	err = audit.ReadJSONL(bufio.NewReaderSize(rf, 1<<20), func(r *audit.Record) error {
		if p := v.Add(r); p != nil {
			return p
		}
		return nil
	})
	rf.Close()
	if err != nil {
		return fmt.Errorf("offline verify: %w", err)
	}
	offline := v.Finish(nil)
	offlineTime := time.Since(start)
	if !offline.OK || offline.Entries != int64(c.entries) {
		return fmt.Errorf("offline verify of the export: %d entries, %+v", offline.Entries, offline.FirstBad)
	}

	rate := func(t time.Duration) string { return fmt.Sprintf("%.0f", float64(c.entries)/t.Seconds()) }
	fmt.Fprintf(e.out, "\n## Load, verify and export: %d entries in one trial chain (PostgreSQL)\n\n", c.entries)
	fmt.Fprintln(e.out, "| step | statistics | plan (top node) | seconds | entries/s | notes |")
	fmt.Fprintln(e.out, "|---|---|---|---:|---:|---|")
	fmt.Fprintf(e.out, "| load: committed (db.Write, 1,000 tx.Audit per transaction, %d loaders) | | | %.2f | %s | queued |\n",
		c.loaders, committed.Seconds(), rate(committed))
	fmt.Fprintf(e.out, "| load: all chained (WaitChained) | | | %.2f | %s | %d sequencer batches |\n", chained.Seconds(), rate(chained), st.Batches)
	for _, s := range steps {
		fmt.Fprintf(e.out, "| %s | %s | %s | %.2f | %s | %s |\n", s.name, s.stats, s.plan, s.elapsed.Seconds(), rate(s.elapsed), s.notes)
	}
	fmt.Fprintf(e.out, "| verify the exported file offline (ReadJSONL + Verifier) | | | %.2f | %s | |\n", offlineTime.Seconds(), rate(offlineTime))
	limit := 10 * time.Second * time.Duration(c.entries) / 1_000_000
	for _, s := range steps {
		if strings.HasPrefix(s.name, "export JSON Lines to a file") {
			verdict := "met"
			if s.elapsed >= limit {
				verdict = "MISSED"
			}
			fmt.Fprintf(e.out, "\nExport to a file (%s): %.2f s for %d entries, %.0f MB (target < 10 s per 1,000,000: %s).\n",
				s.stats, s.elapsed.Seconds(), c.entries, float64(exported)/1e6, verdict)
		}
	}
	return nil
}
