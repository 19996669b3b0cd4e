package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/sqlite"
)

// The SQLite part's business tables. SQLite has no deferred constraint
// triggers: the unit of work alone makes the audited table regulated.
const createSQLiteAccounts = `
CREATE TABLE bench_account_audited (
	id integer PRIMARY KEY, trial text NOT NULL, site text NOT NULL, username text NOT NULL,
	full_name text NOT NULL, email text NOT NULL, role text NOT NULL, created_us integer NOT NULL);
CREATE TABLE bench_account_plain (
	id integer PRIMARY KEY, trial text NOT NULL, site text NOT NULL, username text NOT NULL,
	full_name text NOT NULL, email text NOT NULL, role text NOT NULL, created_us integer NOT NULL);`

// sqliteDSN is the data source of the plain baseline: the pragmas and the
// single immediate-locking writer connection of db/sqlite.Open. The driver
// is registered by db/sqlite, which stays its only importer.
func sqliteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	return "file:" + path + "?" + q.Encode() + "&_txlock=immediate"
}

// sqlitePlain is the noaudit variant on SQLite.
type sqlitePlain struct{ plain }

// sqlitePart runs the audited (entries chained inline) and plain variants
// on the embedded backend. There is no naive variant: inline chaining is
// the SQLite design, since SQLite has a single writer anyway.
func (e *benchEnv) sqlitePart(ctx context.Context) error {
	c := e.cfg
	dir := c.sqliteDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "trialgate-bench-sqlite-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	path := filepath.Join(dir, "bench.db")
	d, err := sqlite.Open(ctx, path, db.Options{Logger: e.log})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		return err
	}
	raw, err := sql.Open("sqlite", sqliteDSN(path))
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	raw.SetMaxOpenConns(1)
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, createSQLiteAccounts); err != nil {
		return fmt.Errorf("sqlite: create tables: %w", err)
	}
	var ids atomic.Int64
	byVariant := map[string][]*variantResult{}
	fmt.Fprintf(e.out, "\n## Write on SQLite (inline chaining): %d writers, %s warm-up + %s measured per variant, %d round(s)\n\n",
		c.writers, c.warmup, c.duration, c.rounds)
	fmt.Fprintln(e.out, "| round | variant | tx/s | p50 ms | p99 ms | max ms |")
	fmt.Fprintln(e.out, "|---|---|---:|---:|---:|---:|")
	for round := 1; round <= c.rounds; round++ {
		for _, v := range []string{variantAudited, variantNoAudit} {
			e.progress("sqlite: round %d/%d, %s", round, c.rounds, v)
			open := func(context.Context) (workload, error) {
				if v == variantAudited {
					// The DB stays open across variants: no-op close.
					return &sqliteAudited{audited{d: d, trial: v, chains: c.chains, insert: fmt.Sprintf(insertAccount, "bench_account_audited")}}, nil
				}
				return &sqlitePlain{plain{pool: raw, trial: v, chains: c.chains, insert: fmt.Sprintf(insertAccount, "bench_account_plain")}}, nil
			}
			r, err := runVariant(ctx, writeRun{variant: v, round: round, writers: c.writers, chains: c.chains,
				warmup: c.warmup, duration: c.duration, ids: &ids, open: open}, e)
			if err != nil {
				return fmt.Errorf("sqlite: %w", err)
			}
			byVariant[v] = append(byVariant[v], r)
			fmt.Fprintf(e.out, "| %d | %s | %.0f | %.1f | %.1f | %.1f |\n", round, v, r.tps(),
				ms(pct(r.lat, 50)), ms(pct(r.lat, 99)), ms(pct(r.lat, 100)))
		}
	}
	var ratios []float64
	for i := range byVariant[variantAudited] {
		ratios = append(ratios, byVariant[variantAudited][i].tps()/byVariant[variantNoAudit][i].tps())
	}
	start := time.Now()
	rep, err := d.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("sqlite: the written trail does not verify: %v", rep.FirstBad)
	}
	fmt.Fprintf(e.out, "\naudited / noaudit throughput on SQLite = **%.2f** (per round %s); all %d entries verify (%s).\n",
		median(ratios, func(x float64) float64 { return x }), fmtFloats(ratios), rep.Entries, time.Since(start).Round(time.Millisecond))
	return nil
}

// sqliteAudited is the audited variant on a DB the part keeps open.
type sqliteAudited struct{ audited }

func (*sqliteAudited) close(context.Context) error { return nil }

func (*sqlitePlain) close(context.Context) error { return nil }
