package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/trialgate/trialgate/audit"
)

// queued is an audit entry ready to be chained: from the queue (PostgreSQL)
// or straight from the committing transaction (SQLite).
type queued struct {
	queueID   sql.NullInt64
	chain     string
	eventUS   int64
	actorID   string
	actorUser string
	action    string
	object    string
	trial     string
	site      string
	outcome   string
	canonical []byte
}

func queuedFrom(p pending) queued {
	e := &p.entry
	outcome := e.Outcome
	if outcome == "" {
		outcome = audit.Success
	}
	return queued{
		chain: e.Chain(), eventUS: micros(e.Time),
		actorID: e.Actor.ID, actorUser: e.Actor.Username, action: string(e.Action),
		object: e.Object.String(), trial: e.Trial, site: e.Site, outcome: string(outcome),
		canonical: p.canonical,
	}
}

const (
	queueColumns = `chain, event_us, actor_id, actor_username, action, object, trial, site, outcome, canonical`
	logColumns   = `chain, seq, queue_id, event_us, chained_us, actor_id, actor_username, action, object, trial, site, outcome, canonical, prev_hash, hash`

	selectHead = `SELECT seq, hash, chained_us FROM audit_head WHERE chain = $1`
	upsertHead = `INSERT INTO audit_head (chain, seq, hash, chained_us) VALUES ($1, $2, $3, $4)
		ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, chained_us = excluded.chained_us`

	selectQueue = `SELECT id, ` + queueColumns + ` FROM audit_queue ORDER BY id LIMIT $1`
	deleteQueue = `DELETE FROM audit_queue WHERE id = ANY($1)`
)

// paramsPerInsert bounds a multi-row INSERT's parameters. SQLite resolves
// each $N by a linear search of the statement's parameter names, so a
// statement's parse time grows with the square of its parameters: at
// 6,000 a bulk insert spends most of its time parsing. A few hundred keep
// statements cheap to parse and still few.
const paramsPerInsert = 120

// insertRows inserts rows with one multi-row INSERT per chunk.
func insertRows(ctx context.Context, tx *sql.Tx, prefix string, ncols int, rows [][]any) error {
	for len(rows) > 0 {
		n := min(len(rows), max(1, paramsPerInsert/ncols))
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString(" VALUES ")
		args := make([]any, 0, n*ncols)
		for i, r := range rows[:n] {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			for j := range ncols {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(i*ncols + j + 1))
			}
			b.WriteByte(')')
			args = append(args, r...)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// enqueue inserts the transaction's entries into the append-only queue; the
// sequencer chains them after the commit.
func (d *DB) enqueue(ctx context.Context, tx *sql.Tx, ps []pending) error {
	rows := make([][]any, len(ps))
	for i, p := range ps {
		q := queuedFrom(p)
		rows[i] = []any{q.chain, q.eventUS, q.actorID, q.actorUser, q.action, q.object, q.trial, q.site, q.outcome, q.canonical}
	}
	return insertRows(ctx, tx, "INSERT INTO audit_queue ("+queueColumns+")", 10, rows)
}

// chainInline chains the transaction's entries inside it (SQLite).
func (d *DB) chainInline(ctx context.Context, tx *sql.Tx, ps []pending) error {
	qs := make([]queued, len(ps))
	for i, p := range ps {
		qs[i] = queuedFrom(p)
	}
	_, err := d.chain(ctx, tx, make(map[string]*audit.Head), qs)
	return err
}

// loadHead returns the head of chain, from heads or the database.
func loadHead(ctx context.Context, tx *sql.Tx, heads map[string]*audit.Head, chain string) (*audit.Head, error) {
	if h := heads[chain]; h != nil {
		return h, nil
	}
	h := &audit.Head{Chain: chain}
	var hash []byte
	var at int64
	err := tx.QueryRowContext(ctx, selectHead, chain).Scan(&h.Seq, &hash, &at)
	switch {
	case err == sql.ErrNoRows:
	case err != nil:
		return nil, fmt.Errorf("load head of %s: %w", chain, err)
	default:
		if h.Hash, err = audit.HashFrom(hash); err != nil {
			return nil, fmt.Errorf("head of %s: %w", chain, err)
		}
		h.ChainedAt = fromMicros(at)
	}
	heads[chain] = h
	return h, nil
}

// chain assigns seq and hashes to qs in order, inserts them into the log and
// advances the heads, all in tx. heads caches chain heads between calls; on
// error the caller must discard it. A clock that went backwards is recorded
// as a clock.anomaly entry on the system chain. It returns the records
// written.
func (d *DB) chain(ctx context.Context, tx *sql.Tx, heads map[string]*audit.Head, qs []queued) (int, error) {
	now := d.clock().UTC().Truncate(time.Microsecond)
	rows := make([][]any, 0, len(qs)+1)
	touched := make(map[string]*audit.Head)
	var anomaly *time.Time
	add := func(q queued) error {
		h, err := loadHead(ctx, tx, heads, q.chain)
		if err != nil {
			return err
		}
		r, back := h.Next(q.canonical, fromMicros(q.eventUS), now)
		if back && anomaly == nil {
			held := r.ChainedAt
			anomaly = &held
		}
		touched[q.chain] = h
		rows = append(rows, []any{q.chain, int64(r.Seq), q.queueID, q.eventUS, micros(r.ChainedAt),
			q.actorID, q.actorUser, q.action, q.object, q.trial, q.site, q.outcome, q.canonical, r.PrevHash[:], r.Hash[:]})
		return nil
	}
	for _, q := range qs {
		if err := add(q); err != nil {
			return 0, err
		}
	}
	if anomaly != nil {
		q, err := clockAnomaly(now, *anomaly)
		if err != nil {
			return 0, err
		}
		if err := add(q); err != nil {
			return 0, err
		}
		d.log.Warn("clock went backwards; chaining times held", "clock", now, "held_at", *anomaly)
	}
	if err := insertRows(ctx, tx, "INSERT INTO audit_log ("+logColumns+")", 15, rows); err != nil {
		return 0, fmt.Errorf("insert log: %w", err)
	}
	for _, h := range touched {
		if _, err := tx.ExecContext(ctx, upsertHead, h.Chain, int64(h.Seq), h.Hash[:], micros(h.ChainedAt)); err != nil {
			return 0, fmt.Errorf("advance head of %s: %w", h.Chain, err)
		}
	}
	return len(rows), nil
}

func clockAnomaly(now, held time.Time) (queued, error) {
	e := audit.Entry{Time: now, Actor: audit.System("sequencer"), Event: audit.Event{
		Action: audit.ActionClockAnomaly,
		After: map[string]string{
			"clock":   now.Format(audit.TimeFormat),
			"held_at": held.Format(audit.TimeFormat),
		},
	}}
	c, err := audit.Encode(&e)
	if err != nil {
		return queued{}, err
	}
	return queuedFrom(pending{entry: e, canonical: c}), nil
}

// runSequencer chains queued entries while this process leads. Leadership
// is an advisory lock held by one connection, so several gateway replicas
// may run against one database safely.
func (d *DB) runSequencer(ctx context.Context) {
	t := time.NewTicker(d.interval)
	defer t.Stop()
	wait := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		conn, err := d.write.Conn(ctx)
		if err == nil {
			err = d.lead(ctx, conn, wait)
			// Never return a connection that held the lock to the pool:
			// the lock would stay with it and nobody would lead.
			conn.Raw(func(any) error { return driver.ErrBadConn })
			conn.Close()
		}
		d.stats.leader.Store(false)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Error("audit sequencer", "err", err)
		}
		if !wait() {
			return
		}
	}
}

// lead takes leadership on conn and sequences until ctx ends or an error.
func (d *DB) lead(ctx context.Context, conn *sql.Conn, wait func() bool) error {
	for {
		ok, err := d.dialect.TryLead(ctx, conn)
		if err != nil {
			return fmt.Errorf("try lead: %w", err)
		}
		if ok {
			break
		}
		if !wait() {
			return nil
		}
	}
	d.stats.leader.Store(true)
	d.log.Info("audit sequencer leading")
	heads := make(map[string]*audit.Head)
	for {
		n, err := d.sequenceBatch(ctx, conn, heads)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("sequence: %w", err)
		}
		if n == d.batch {
			continue // more waiting: do not sleep
		}
		if !wait() {
			return nil
		}
	}
}

// sequenceBatch chains up to d.batch queued entries in one transaction and
// removes them from the queue. The heads cache is updated only on commit.
func (d *DB) sequenceBatch(ctx context.Context, conn *sql.Conn, heads map[string]*audit.Head) (int, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, selectQueue, d.batch)
	if err != nil {
		return 0, fmt.Errorf("read queue: %w", err)
	}
	var qs []queued
	var ids []int64
	for rows.Next() {
		var q queued
		if err := rows.Scan(&q.queueID, &q.chain, &q.eventUS, &q.actorID, &q.actorUser, &q.action,
			&q.object, &q.trial, &q.site, &q.outcome, &q.canonical); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read queue: %w", err)
		}
		qs = append(qs, q)
		ids = append(ids, q.queueID.Int64)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read queue: %w", err)
	}
	if len(qs) == 0 {
		return 0, nil
	}
	// Chain on a copy of the heads so a failed batch leaves the cache intact.
	work := make(map[string]*audit.Head, len(heads))
	for k, h := range heads {
		c := *h
		work[k] = &c
	}
	if _, err := d.chain(ctx, tx, work, qs); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, deleteQueue, ids); err != nil {
		return 0, fmt.Errorf("drain queue: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit batch: %w", err)
	}
	for k, h := range work {
		heads[k] = h
	}
	d.stats.chained.Add(int64(len(qs)))
	d.stats.batches.Add(1)
	d.stats.lastLagUS.Store(micros(d.clock()) - qs[0].eventUS)
	return len(qs), nil
}

const (
	selectQueueMax   = `SELECT coalesce(max(id), 0) FROM audit_queue`
	selectQueuedUpTo = `SELECT EXISTS (SELECT 1 FROM audit_queue WHERE id <= $1)`
)

// WaitChained waits until every audit entry committed before the call has
// been chained, so that it has its seq and hash. Lock and signature events
// use it to return a receipt.
func (d *DB) WaitChained(ctx context.Context) error {
	if !d.dialect.Sequenced() {
		return nil
	}
	var upTo int64
	if err := d.read.QueryRowContext(ctx, selectQueueMax).Scan(&upTo); err != nil {
		return d.classify(fmt.Errorf("db: queue head: %w", err))
	}
	t := time.NewTicker(d.interval / 4)
	defer t.Stop()
	for upTo > 0 {
		var waiting bool
		if err := d.read.QueryRowContext(ctx, selectQueuedUpTo, upTo).Scan(&waiting); err != nil {
			return d.classify(fmt.Errorf("db: queue: %w", err))
		}
		if !waiting {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// WaitChainedFor is WaitChained bounded by max, for answers that should
// show the entries just committed (a query that sees its caller's own
// actions, a signature's receipt): past max it returns nil with a warning
// in the log, since a slow sequencer delays entries, it does not hide
// them. It fails only when ctx ends or the database does.
func (d *DB) WaitChainedFor(ctx context.Context, max time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, max)
	defer cancel()
	err := d.WaitChained(wctx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		d.log.Warn("audit sequencer is behind; answering with the entries chained so far")
		return nil
	}
	return err
}
