package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
)

// Proposal emulations: the audited transaction written directly with pgx
// (no database/sql), to measure what sending the queue insert together with
// COMMIT, in one round trip, would gain. Each has the same statements as
// db.DB.Write (the regulated table and its deferred trigger, the queue row
// of db's enqueue, the sequencer of a db.DB chaining it); only the number of
// round trips differs. They are compared with pgx-noaudit, the baseline
// written the same way.
const (
	// pgx-noaudit: BEGIN; INSERT; COMMIT: 3 round trips.
	variantPgxNoAudit = "pgx-noaudit"
	// pgx-audited: BEGIN; INSERT; INSERT INTO audit_queue; COMMIT: 4 round
	// trips, as db.DB.Write sends them today.
	variantPgxAudited = "pgx-audited"
	// pgx-pipelined: BEGIN; INSERT; then INSERT INTO audit_queue and COMMIT
	// sent as one pipeline: 3 round trips.
	variantPgxPipelined = "pgx-pipelined"
)

var proposals = []string{variantPgxNoAudit, variantPgxAudited, variantPgxPipelined}

// enqueueSQL is the statement db.DB.Write runs for a one-entry transaction.
const enqueueSQL = `INSERT INTO audit_queue (chain, event_us, actor_id, actor_username, action, object, trial, site, outcome, canonical)
	VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`

type pgxWorkload struct {
	pool    *pgxpool.Pool
	seq     *db.DB // runs the sequencer; nil for pgx-noaudit
	variant string
	chains  int
	insert  string
}

func openPgxWorkload(ctx context.Context, variant, dbURL string, writers, chains int, interval time.Duration, log *slog.Logger) (*pgxWorkload, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = int32(writers + 2)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	w := &pgxWorkload{pool: pool, variant: variant, chains: chains, insert: fmt.Sprintf(insertAccount, "bench_account_audited")}
	if variant == variantPgxNoAudit {
		w.insert = fmt.Sprintf(insertAccount, "bench_account_plain")
		return w, nil
	}
	if w.seq, err = postgres.Open(ctx, dbURL, 2, db.Options{Logger: log, SequencerInterval: interval}); err != nil {
		pool.Close()
		return nil, err
	}
	w.seq.Start(ctx)
	return w, nil
}

func (w *pgxWorkload) do(ctx context.Context, g *generator, id int64) (err error) {
	row, ev := g.account(id, trialOf(w.variant, id, w.chains))
	actor := g.actor()
	var canonical []byte
	var e audit.Entry
	if w.seq != nil {
		e = audit.Entry{Time: time.Now().UTC().Truncate(time.Microsecond), Actor: actor, Trial: row.trial, Site: row.site, Event: ev}
		if canonical, err = audit.Encode(&e); err != nil {
			return err
		}
	}
	conn, err := w.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	c := conn.Conn()
	if _, err := c.Exec(ctx, "begin"); err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			_, rerr := c.Exec(ctx, "rollback")
			err = errors.Join(err, rerr)
		}
	}()
	if _, err := c.Exec(ctx, w.insert, row.args()...); err != nil {
		return err
	}
	enqueueArgs := []any{e.Chain(), e.Time.UnixMicro(), actor.ID, actor.Username, string(ev.Action), ev.Object.String(),
		e.Trial, e.Site, string(audit.Success), canonical}
	switch w.variant {
	case variantPgxAudited:
		if _, err := c.Exec(ctx, enqueueSQL, enqueueArgs...); err != nil {
			return err
		}
	case variantPgxPipelined:
		b := &pgx.Batch{}
		b.Queue(enqueueSQL, enqueueArgs...)
		b.Queue("commit")
		br := c.SendBatch(ctx, b)
		_, err1 := br.Exec()
		_, err2 := br.Exec()
		if err := errors.Join(err1, err2, br.Close()); err != nil {
			return err
		}
		committed = true
		return nil
	}
	if _, err := c.Exec(ctx, "commit"); err != nil {
		return err
	}
	committed = true
	return nil
}

func (w *pgxWorkload) close(ctx context.Context) error {
	w.pool.Close()
	if w.seq == nil {
		return nil
	}
	return errors.Join(w.seq.WaitChained(ctx), w.seq.Close())
}
