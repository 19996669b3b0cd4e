package main

// Go benchmarks of the audit path, for regression checks (CI runs them
// briefly; they are not timed tests):
//
//	go test -run X -bench . -benchtime 100x ./bench/...
//
// BenchmarkVerify and BenchmarkRawSHA256 are the side-by-side pair of the
// verify budget: one op is one pass over the same 10,000 in-memory records,
// and SetBytes makes their MB/s comparable. BenchmarkPostgres runs the write
// variants (64 goroutines), db.DB.VerifyAudit and the JSON Lines export in a
// fresh PostgreSQL database; like every PostgreSQL test it is skipped when
// the server is unreachable, except with CI=true, where that fails.

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
	"github.com/trialgate/trialgate/db/postgres/pgtest"
)

// corpusEntries is the number of records one verify op covers.
const corpusEntries = 10_000

func benchCorpus(b *testing.B) *corpus {
	b.Helper()
	c, err := buildCorpus(corpusEntries, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func reportEntries(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N)*float64(perOp)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkVerify is audit.Verifier over the corpus (hash recomputation,
// links, sequence, times, heads).
func BenchmarkVerify(b *testing.B) {
	c := benchCorpus(b)
	b.SetBytes(c.bytes)
	b.ReportAllocs()
	for b.Loop() {
		if rep := verifyCorpus(c); !rep.OK {
			b.Fatalf("corpus does not verify: %v", rep.FirstBad)
		}
	}
	reportEntries(b, corpusEntries)
}

// BenchmarkRawSHA256 is SHA-256 over exactly the bytes BenchmarkVerify
// hashes, one digest per record.
func BenchmarkRawSHA256(b *testing.B) {
	c := benchCorpus(b)
	b.SetBytes(c.bytes)
	b.ReportAllocs()
	for b.Loop() {
		rawSHA256(c)
	}
	reportEntries(b, corpusEntries)
}

// BenchmarkRawSHA256Stream is one SHA-256 stream over the same bytes.
func BenchmarkRawSHA256Stream(b *testing.B) {
	c := benchCorpus(b)
	b.SetBytes(c.bytes)
	for b.Loop() {
		rawSHA256Stream(c)
	}
	reportEntries(b, corpusEntries)
}

// BenchmarkEncode is audit.Encode of one realistic entry, the client's
// share of tx.Audit.
func BenchmarkEncode(b *testing.B) {
	g := newGenerator(1)
	entries := make([]audit.Entry, 1024)
	for i := range entries {
		entries[i] = g.event("T001")
		entries[i].Time, entries[i].Actor = time.Now().UTC(), g.actor()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := audit.Encode(&entries[i%len(entries)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchWriters is the write benchmarks' concurrency, as in the budget.
const benchWriters = 64

// exportEntries is the size of the chain the export benchmarks read.
const exportEntries = 2_000

// BenchmarkPostgres runs the PostgreSQL benchmarks in one fresh database:
// Write/<variant> (one op is one transaction, 64 concurrent writers),
// VerifyAudit and ExportJSONL (one op is one pass over a 2,000-entry chain).
func BenchmarkPostgres(b *testing.B) {
	dbURL := pgtest.NewDatabase(b)
	ctx := b.Context()
	log := slog.New(slog.DiscardHandler)
	if err := setupWriteSchema(ctx, dbURL, log); err != nil {
		b.Fatal(err)
	}
	var ids, seeds atomic.Int64
	for _, v := range allVariants {
		// The pool stays open across the sub-benchmark's runs; its
		// connections are opened before timing, one transaction per writer.
		wl, err := openWorkload(ctx, v, dbURL, benchWriters, 1, 100*time.Millisecond, log)
		if err != nil {
			b.Fatal(err)
		}
		var warm sync.WaitGroup
		for w := range benchWriters {
			warm.Add(1)
			go func() {
				defer warm.Done()
				if err := wl.do(ctx, newGenerator(uint64(1000+w)), ids.Add(1)); err != nil {
					b.Error(err)
				}
			}()
		}
		warm.Wait()
		b.Run("Write/"+v, func(b *testing.B) {
			b.SetParallelism((benchWriters + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.RunParallel(func(pb *testing.PB) {
				g := newGenerator(uint64(seeds.Add(1)))
				for pb.Next() {
					if err := wl.do(ctx, g, ids.Add(1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
		})
		if err := wl.close(ctx); err != nil {
			b.Fatal(err)
		}
	}

	d, err := postgres.Open(ctx, dbURL, 8, db.Options{Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	d.Start(ctx)
	if err := loadEntries(ctx, d, exportTrial, exportEntries, 1000, 4); err != nil {
		b.Fatal(err)
	}
	if err := d.WaitChained(ctx); err != nil {
		b.Fatal(err)
	}
	chain := audit.ChainOf(exportTrial)
	b.Run("VerifyAudit", func(b *testing.B) {
		for b.Loop() {
			rep, err := d.VerifyAudit(ctx, chain)
			if err != nil || !rep.OK || rep.Entries != exportEntries {
				b.Fatalf("verify: %+v %v, err %v", rep, rep.FirstBad, err)
			}
		}
		reportEntries(b, exportEntries)
	})
	b.Run("ExportJSONL", func(b *testing.B) {
		cw := &countingWriter{w: io.Discard}
		for b.Loop() {
			if n, err := exportJSONL(ctx, d, chain, cw); err != nil || n != exportEntries {
				b.Fatalf("export: %d records, err %v", n, err)
			}
		}
		b.SetBytes(cw.n / int64(b.N))
		reportEntries(b, exportEntries)
	})
}

// requirePostgres skips t when the test server is unreachable, or fails it
// with CI=true, as pgtest does.
func requirePostgres(t *testing.T) {
	t.Helper()
	pool, err := sql.Open("pgx", pgtest.ServerURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err = pool.PingContext(ctx)
		cancel()
		pool.Close()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skipf("PostgreSQL not reachable: %v", err)
	}
}

// TestQuick runs the whole tool briefly, every part, so that it keeps
// working; its figures are not checked.
func TestQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	requirePostgres(t)
	var out, errs bytes.Buffer
	args := []string{"-quick", "-parts", "write,verify,export,sqlite", "-writers", "8", "-warmup", "200ms",
		"-duration", "500ms", "-entries", "3000"}
	getenv := func(k string) string {
		if k == "TRIALGATE_TEST_DATABASE_URL" {
			return pgtest.ServerURL()
		}
		return ""
	}
	if err := run(t.Context(), args, getenv, &out, &errs); err != nil {
		t.Fatalf("run: %v\n%s\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{"audited / noaudit throughput", "audited / naive throughput", "Chaining latency",
		"verify / raw per-entry SHA-256", "Export to a file", "audited / noaudit throughput on SQLite"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
