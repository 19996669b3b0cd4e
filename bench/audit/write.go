package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
)

// variantResult is one measured run of a write variant.
type variantResult struct {
	variant string
	round   int
	tx      int64
	window  time.Duration
	lat     []time.Duration // sorted
	costs   costs
	lag     *lagResult // audited only
	seqStat db.Stats   // audited only
}

func (r *variantResult) tps() float64 { return float64(r.tx) / r.window.Seconds() }

// commit is when a measured transaction's commit returned to its writer.
type commit struct {
	id int64
	at time.Time
}

// writeRun says how to run one variant.
type writeRun struct {
	variant  string
	round    int
	dbURL    string
	writers  int
	chains   int
	warmup   time.Duration
	duration time.Duration
	interval time.Duration
	ids      *atomic.Int64
	admin    *sql.DB // PostgreSQL: for statistics and head polling; nil: none
	// open opens the workload; nil means openWorkload (PostgreSQL).
	open func(ctx context.Context) (workload, error)
}

// runVariant runs writers concurrent writers of one variant for the warm-up
// and the measured window. A transaction counts if it completes inside the
// window; its latency is from begin to the commit's return.
func runVariant(ctx context.Context, wr writeRun, e *benchEnv) (_ *variantResult, err error) {
	open := wr.open
	if open == nil {
		open = func(ctx context.Context) (workload, error) {
			return openWorkload(ctx, wr.variant, wr.dbURL, wr.writers, wr.chains, wr.interval, e.log)
		}
	}
	wl, err := open(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := wl.close(ctx); cerr != nil && err == nil {
			err = fmt.Errorf("%s: close: %w", wr.variant, cerr)
		}
	}()
	if wr.admin != nil {
		// Start every variant from a fresh checkpoint, so each pays the
		// same full-page writes.
		if _, err := wr.admin.ExecContext(ctx, "CHECKPOINT"); err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	res := &variantResult{variant: wr.variant, round: wr.round, window: wr.duration}
	start := time.Now()
	from, to := start.Add(wr.warmup), start.Add(wr.warmup+wr.duration)

	var poller *headPoller
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	if a, ok := wl.(*audited); ok && wr.variant == variantAudited && wr.admin != nil {
		poller = newHeadPoller(wr.admin)
		go poller.run(pollCtx, 10*time.Millisecond)
		defer func() { res.seqStat = a.d.Stats() }()
	}

	// runCtx ends the run early when a writer fails.
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Snapshot the server's counters at the edges of the window.
	var before, after serverStats
	var statsErr error
	var statsWG sync.WaitGroup
	if wr.admin != nil {
		statsWG.Add(1)
		go func() {
			defer statsWG.Done()
			sleepUntil(runCtx, from)
			before, statsErr = snapshot(ctx, wr.admin)
			sleepUntil(runCtx, to)
			if statsErr == nil {
				after, statsErr = snapshot(ctx, wr.admin)
			}
		}()
	}

	lats := make([][]time.Duration, wr.writers)
	commits := make([][]commit, wr.writers)
	var wg sync.WaitGroup
	for w := range wr.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newGenerator(uint64(wr.round)<<32 | uint64(w))
			for runCtx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					return
				}
				id := wr.ids.Add(1)
				// The transaction itself runs on ctx: stopping the run
				// must not cancel a transaction half-way.
				if err := wl.do(ctx, g, id); err != nil {
					cancel(fmt.Errorf("%s: writer %d: %w", wr.variant, w, err))
					return
				}
				t1 := time.Now()
				if !t1.Before(from) && t1.Before(to) {
					lats[w] = append(lats[w], t1.Sub(t0))
					if poller != nil {
						commits[w] = append(commits[w], commit{id, t1})
					}
				}
			}
		}()
	}
	wg.Wait()
	statsWG.Wait()
	if err := context.Cause(runCtx); err != nil {
		return nil, err
	}
	if statsErr != nil {
		return nil, statsErr
	}
	for _, l := range lats {
		res.lat = append(res.lat, l...)
	}
	slices.Sort(res.lat)
	res.tx = int64(len(res.lat))
	if wr.admin != nil {
		res.costs = costsOf(before, after, res.tx)
	}
	if poller != nil {
		a := wl.(*audited)
		if err := a.d.WaitChained(ctx); err != nil {
			return nil, fmt.Errorf("wait chained: %w", err)
		}
		// One more poll after the last batch, so every entry is seen.
		time.Sleep(30 * time.Millisecond)
		stopPolling()
		obs, err := poller.wait()
		if err != nil {
			return nil, err
		}
		if res.lag, err = measureLag(ctx, wr.admin, start, slices.Concat(commits...), obs); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

// headPoller watches the chain heads to see when each entry became visible
// as chained.
type headPoller struct {
	pool *sql.DB
	done chan struct{}
	obs  map[string][]headObs
	err  error
}

// headObs is a head seen at a time: every entry of the chain up to seq was
// visible as chained when the poll returned at at.
type headObs struct {
	at  time.Time
	seq int64
}

const selectHeadSeqs = `SELECT chain, seq FROM audit_head`

func newHeadPoller(pool *sql.DB) *headPoller {
	return &headPoller{pool: pool, done: make(chan struct{}), obs: map[string][]headObs{}}
}

func (p *headPoller) run(ctx context.Context, every time.Duration) {
	defer close(p.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := p.poll(ctx); err != nil {
			if ctx.Err() == nil {
				p.err = err
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *headPoller) poll(ctx context.Context) error {
	rows, err := p.pool.QueryContext(ctx, selectHeadSeqs)
	if err != nil {
		return fmt.Errorf("poll heads: %w", err)
	}
	defer rows.Close()
	var seen []headObs
	var chains []string
	for rows.Next() {
		var c string
		var seq int64
		if err := rows.Scan(&c, &seq); err != nil {
			return fmt.Errorf("poll heads: %w", err)
		}
		chains = append(chains, c)
		seen = append(seen, headObs{seq: seq})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("poll heads: %w", err)
	}
	// The state was visible by the time the answer arrived: taking the
	// arrival time can only overstate the latency.
	at := time.Now()
	for i, c := range chains {
		o := p.obs[c]
		if len(o) == 0 || o[len(o)-1].seq < seen[i].seq {
			p.obs[c] = append(o, headObs{at: at, seq: seen[i].seq})
		}
	}
	return nil
}

func (p *headPoller) wait() (map[string][]headObs, error) {
	<-p.done
	return p.obs, p.err
}

// lagResult is how long after their commit the measured entries were
// chained.
type lagResult struct {
	entries int
	// eventToChained is chained_us - event_us as stored: from tx.Audit
	// (before the commit) to the time the sequencer assigned.
	eventToChained []time.Duration
	// commitToVisible is from the commit's return to the first poll of the
	// chain heads that showed the entry chained (polls every 10 ms): when a
	// reader could first see the entry's seq and hash.
	commitToVisible []time.Duration
}

const selectChainedSince = `SELECT object, chain, seq, event_us, chained_us FROM audit_log WHERE event_us >= $1`

// measureLag matches the measured commits with their chained rows.
func measureLag(ctx context.Context, pool *sql.DB, since time.Time, commits []commit, obs map[string][]headObs) (*lagResult, error) {
	byObject := make(map[string]time.Time, len(commits))
	for _, c := range commits {
		byObject[accountObject(c.id)] = c.at
	}
	rows, err := pool.QueryContext(ctx, selectChainedSince, since.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("read chained entries: %w", err)
	}
	defer rows.Close()
	lag := &lagResult{}
	for rows.Next() {
		var object, chain string
		var seq, ev, at int64
		if err := rows.Scan(&object, &chain, &seq, &ev, &at); err != nil {
			return nil, fmt.Errorf("read chained entries: %w", err)
		}
		committed, ok := byObject[object]
		if !ok {
			continue // warm-up, or another variant's chain
		}
		delete(byObject, object)
		lag.entries++
		lag.eventToChained = append(lag.eventToChained, time.Duration(at-ev)*time.Microsecond)
		o := obs[chain]
		i, _ := slices.BinarySearchFunc(o, seq, func(h headObs, s int64) int {
			switch {
			case h.seq < s:
				return -1
			case h.seq > s:
				return 1
			}
			return 0
		})
		if i == len(o) {
			return nil, fmt.Errorf("entry %s (chain %s seq %d) was never seen chained", object, chain, seq)
		}
		lag.commitToVisible = append(lag.commitToVisible, o[i].at.Sub(committed))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read chained entries: %w", err)
	}
	if len(byObject) > 0 {
		return nil, fmt.Errorf("%d committed entries are missing from the chained trail", len(byObject))
	}
	slices.Sort(lag.eventToChained)
	slices.Sort(lag.commitToVisible)
	return lag, nil
}

// accountObject is the audit object of account id, as generator.account
// names it.
func accountObject(id int64) string { return fmt.Sprintf("user/u_%016x", uint64(id)) }

// writePart runs the write variants on a fresh database, round after round,
// then verifies every chain they wrote and prints the report.
func (e *benchEnv) writePart(ctx context.Context) error {
	c := e.cfg
	dbURL, drop, err := createDatabase(ctx, c.serverURL, "tg_bench_write")
	if err != nil {
		return err
	}
	e.addDrop(dbURL, drop)
	if err := setupWriteSchema(ctx, dbURL, e.log); err != nil {
		return err
	}
	admin, err := openPool(ctx, dbURL, 3)
	if err != nil {
		return err
	}
	defer admin.Close()
	var ids atomic.Int64
	var results []*variantResult
	fmt.Fprintf(e.out, "\n## Write: %d writers, %s warm-up + %s measured per variant, %d round(s), %d chain(s), sequencer every %s\n\n",
		c.writers, c.warmup, c.duration, c.rounds, c.chains, c.interval)
	fmt.Fprintln(e.out, "| round | variant | tx/s | p50 ms | p99 ms | max ms | server CPU µs/tx | bench CPU µs/tx | WAL bytes/tx | WAL records/tx | tx per WAL flush | machine CPU µs/tx | CPUs busy |")
	fmt.Fprintln(e.out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for round := 1; round <= c.rounds; round++ {
		for _, v := range c.variants {
			e.progress("write: round %d/%d, %s: %d writers, %s + %s", round, c.rounds, v, c.writers, c.warmup, c.duration)
			r, err := runVariant(ctx, writeRun{variant: v, round: round, dbURL: dbURL, writers: c.writers, chains: c.chains,
				warmup: c.warmup, duration: c.duration, interval: c.interval, ids: &ids, admin: admin}, e)
			if err != nil {
				return err
			}
			results = append(results, r)
			k := r.costs
			fmt.Fprintf(e.out, "| %d | %s | %.0f | %.1f | %.1f | %.1f | %d | %d | %.0f | %.1f | %.1f | %d | %.2f |\n",
				round, v, r.tps(), ms(pct(r.lat, 50)), ms(pct(r.lat, 99)), ms(pct(r.lat, 100)),
				k.serverCPUPerTx.Microseconds(), k.clientCPUPerTx.Microseconds(),
				k.walBytesPerTx, k.walRecordsPerTx, k.txPerSync, k.cpuPerTx.Microseconds(), k.machineBusy)
		}
	}
	e.writeSummary(results)
	e.lagReport(results)

	// Every chain written (queued and sequenced, or naive) must verify.
	d, err := postgres.Open(ctx, dbURL, 2, db.Options{Logger: e.log})
	if err != nil {
		return err
	}
	defer d.Close()
	start := time.Now()
	rep, err := d.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !rep.OK {
		return fmt.Errorf("the written trail does not verify: %v", rep.FirstBad)
	}
	fmt.Fprintf(e.out, "\nAll %d entries written (%d chains, audited and naive) verify (db.DB.VerifyAudit, %s).\n",
		rep.Entries, rep.Chains, time.Since(start).Round(time.Millisecond))
	return nil
}

// addDrop arranges for a database to be dropped when the run ends.
func (e *benchEnv) addDrop(dbURL string, drop func() error) {
	if e.cfg.keep {
		e.progress("keeping database %s", dbURL)
		return
	}
	e.drops = append(e.drops, func() {
		if err := drop(); err != nil {
			e.progress("cleanup: %v", err)
		}
	})
}

// writeSummary prints the medians over rounds and the ratios of the
// budgets, each ratio taken within a round (side by side) and then the
// median over rounds.
func (e *benchEnv) writeSummary(results []*variantResult) {
	byVariant := map[string][]*variantResult{}
	byRound := map[int]map[string]*variantResult{}
	for _, r := range results {
		byVariant[r.variant] = append(byVariant[r.variant], r)
		if byRound[r.round] == nil {
			byRound[r.round] = map[string]*variantResult{}
		}
		byRound[r.round][r.variant] = r
	}
	// perRound returns a/b throughput within each round.
	perRound := func(a, b string) []float64 {
		var rs []float64
		for round := 1; round <= e.cfg.rounds; round++ {
			x, y := byRound[round][a], byRound[round][b]
			if x == nil || y == nil || y.tx == 0 {
				return nil
			}
			rs = append(rs, x.tps()/y.tps())
		}
		return rs
	}
	id := func(x float64) float64 { return x }
	fmt.Fprintf(e.out, "\nSummary (median over %d round(s)):\n\n", e.cfg.rounds)
	fmt.Fprintln(e.out, "| variant | tx/s | p50 ms | p99 ms | throughput / baseline | server + bench CPU µs/tx |")
	fmt.Fprintln(e.out, "|---|---:|---:|---:|---:|---:|")
	for _, v := range e.cfg.variants {
		rs := byVariant[v]
		// The pgx proposal emulations compare with the baseline written
		// the same way, the others with noaudit.
		base := variantNoAudit
		if slices.Contains(proposals, v) {
			base = variantPgxNoAudit
		}
		vs := "-"
		if r := perRound(v, base); r != nil {
			vs = fmt.Sprintf("%.2f (%s)", median(r, id), base)
		}
		fmt.Fprintf(e.out, "| %s | %.0f | %.1f | %.1f | %s | %.0f |\n", v,
			median(rs, func(r *variantResult) float64 { return r.tps() }),
			median(rs, func(r *variantResult) float64 { return ms(pct(r.lat, 50)) }),
			median(rs, func(r *variantResult) float64 { return ms(pct(r.lat, 99)) }),
			vs, median(rs, func(r *variantResult) float64 {
				return float64((r.costs.serverCPUPerTx + r.costs.clientCPUPerTx).Microseconds())
			}))
	}
	ratio := func(a, b string, target float64, unit string) {
		rs := perRound(a, b)
		if rs == nil {
			return
		}
		m := median(rs, id)
		verdict := "met"
		if m < target {
			verdict = "MISSED"
		}
		fmt.Fprintf(e.out, "\n%s / %s throughput = **%.2f%s** (target >= %g%s: %s; per round %s)\n", a, b, m, unit,
			target, unit, verdict, fmtFloats(rs))
	}
	ratio(variantAudited, variantNoAudit, 0.90, "")
	ratio(variantAudited, variantNaive, 4, "x")
}

func (e *benchEnv) lagReport(results []*variantResult) {
	first := true
	for _, r := range results {
		if r.lag == nil {
			continue
		}
		if first {
			first = false
			fmt.Fprintln(e.out, "\nChaining latency of the audited variant (every measured entry; target: chained within 1 s):")
			fmt.Fprintln(e.out)
			fmt.Fprintln(e.out, "| round | entries | commit -> visible chained p50 / p99 / max ms | event -> chained_us p50 / p99 / max ms | sequencer batches | verdict |")
			fmt.Fprintln(e.out, "|---|---:|---|---|---:|---|")
		}
		l := r.lag
		verdict := "met"
		if len(l.commitToVisible) > 0 && pct(l.commitToVisible, 100) > time.Second {
			verdict = "MISSED"
		}
		fmt.Fprintf(e.out, "| %d | %d | %.0f / %.0f / %.0f | %.0f / %.0f / %.0f | %d | %s |\n", r.round, l.entries,
			ms(pct(l.commitToVisible, 50)), ms(pct(l.commitToVisible, 99)), ms(pct(l.commitToVisible, 100)),
			ms(pct(l.eventToChained, 50)), ms(pct(l.eventToChained, 99)), ms(pct(l.eventToChained, 100)),
			r.seqStat.Batches, verdict)
	}
}
