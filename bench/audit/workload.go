package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/db/postgres"
)

// The write variants.
const (
	variantAudited = "audited" // db.DB.Write: regulated table + queued entry + sequencer
	variantNoAudit = "noaudit" // the same INSERT in a plain transaction
	variantNaive   = "naive"   // the chain head locked, hashed and advanced in every transaction
)

// Ablations: variants that take one piece away from (or add one to) the
// two above, to show what the audited path's cost is made of.
const (
	// audited-noseq is the real path with the sequencer stopped during the
	// run (it chains the backlog afterwards): the business transaction's
	// share of the cost.
	variantAuditedNoSeq = "audited-noseq"
	// audited-notrigger is the real path on a table without the deferred
	// tg_require_audit trigger.
	variantAuditedNoTrigger = "audited-notrigger"
	// noaudit-rt is noaudit plus one trivial statement (SELECT 1): the price
	// of the extra round trip the queue insert takes.
	variantNoAuditRT = "noaudit-rt"
	// noaudit-encode is noaudit plus audit.Encode of the entry, discarded:
	// the client's encoding cost.
	variantNoAuditEncode = "noaudit-encode"
)

// The business tables, one per variant so the variants do not share index
// growth. Only the audited one is regulated: it carries the deferred
// constraint trigger that refuses a commit without a queued audit entry.
const (
	createAccounts = `
CREATE TABLE bench_account_audited (
	id         bigint PRIMARY KEY,
	trial      text NOT NULL,
	site       text NOT NULL,
	username   text NOT NULL,
	full_name  text NOT NULL,
	email      text NOT NULL,
	role       text NOT NULL,
	created_us bigint NOT NULL
);
CREATE CONSTRAINT TRIGGER bench_account_audited_require_audit
	AFTER INSERT OR UPDATE OR DELETE ON bench_account_audited
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tg_require_audit();
CREATE TABLE bench_account_plain (LIKE bench_account_audited INCLUDING ALL);
CREATE TABLE bench_account_naive (LIKE bench_account_audited INCLUDING ALL);
CREATE TABLE bench_account_notrigger (LIKE bench_account_audited INCLUDING ALL);`

	insertAccount = `INSERT INTO %s (id, trial, site, username, full_name, email, role, created_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`
)

// The naive design: chain inside the business transaction.
const (
	initNaiveHead = `INSERT INTO audit_head (chain, seq, hash, chained_us) VALUES ($1, 0, $2, 0)
		ON CONFLICT (chain) DO NOTHING`
	lockNaiveHead  = `SELECT seq, hash, chained_us FROM audit_head WHERE chain = $1 FOR UPDATE`
	insertNaiveLog = `INSERT INTO audit_log (chain, seq, event_us, chained_us, actor_id, actor_username, action,
		object, trial, site, outcome, canonical, prev_hash, hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	advanceNaiveHead = `UPDATE audit_head SET seq = $2, hash = $3, chained_us = $4 WHERE chain = $1`
)

// setupWriteSchema migrates the database at dbURL and creates the business
// tables of the write variants.
func setupWriteSchema(ctx context.Context, dbURL string, log *slog.Logger) error {
	d, err := postgres.Open(ctx, dbURL, 2, db.Options{Logger: log})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		return err
	}
	raw, err := openPool(ctx, dbURL, 1)
	if err != nil {
		return err
	}
	defer raw.Close()
	if _, err := raw.ExecContext(ctx, createAccounts); err != nil {
		return fmt.Errorf("create business tables: %w", err)
	}
	return nil
}

// trialOf names the trial (and so the chain) of transaction id of a variant.
func trialOf(variant string, id int64, chains int) string {
	return fmt.Sprintf("bench-%s-%d", variant, id%int64(chains))
}

// workload is one write variant: do runs one transaction that inserts
// account id (and, except for noaudit, records it in the trail).
type workload interface {
	do(ctx context.Context, g *generator, id int64) error
	// close finishes the variant's work (chains what it queued) and
	// closes its connections.
	close(ctx context.Context) error
}

// openWorkload opens variant's connections: pool connections for the
// writers plus two (the sequencer and a spare) in every variant.
func openWorkload(ctx context.Context, variant, dbURL string, writers, chains int, interval time.Duration, log *slog.Logger) (workload, error) {
	switch variant {
	case variantAudited, variantAuditedNoSeq, variantAuditedNoTrigger:
		d, err := postgres.Open(ctx, dbURL, writers+2, db.Options{Logger: log, SequencerInterval: interval})
		if err != nil {
			return nil, err
		}
		a := &audited{d: d, trial: variant, chains: chains, insert: fmt.Sprintf(insertAccount, "bench_account_audited")}
		switch variant {
		case variantAuditedNoSeq:
			a.startLate = true
		case variantAuditedNoTrigger:
			a.insert = fmt.Sprintf(insertAccount, "bench_account_notrigger")
		}
		if !a.startLate {
			d.Start(ctx)
		}
		return a, nil
	case variantNoAudit, variantNoAuditRT, variantNoAuditEncode:
		pool, err := openPool(ctx, dbURL, writers+2)
		if err != nil {
			return nil, err
		}
		return &plain{pool: pool, trial: variant, chains: chains, insert: fmt.Sprintf(insertAccount, "bench_account_plain"),
			extraRT: variant == variantNoAuditRT, encode: variant == variantNoAuditEncode}, nil
	case variantPgxNoAudit, variantPgxAudited, variantPgxPipelined:
		return openPgxWorkload(ctx, variant, dbURL, writers, chains, interval, log)
	case variantNaive:
		pool, err := openPool(ctx, dbURL, writers+2)
		if err != nil {
			return nil, err
		}
		for i := range chains {
			chain := audit.ChainOf(trialOf(variantNaive, int64(i), chains))
			if _, err := pool.ExecContext(ctx, initNaiveHead, chain, make([]byte, 32)); err != nil {
				pool.Close()
				return nil, fmt.Errorf("naive: create head: %w", err)
			}
		}
		return &naive{pool: pool, chains: chains, insert: fmt.Sprintf(insertAccount, "bench_account_naive")}, nil
	}
	return nil, fmt.Errorf("unknown variant %q", variant)
}

func (a account) args() []any {
	return []any{a.id, a.trial, a.site, a.username, a.fullName, a.email, a.role, time.Now().UnixMicro()}
}

// audited is the real path: db.DB.Write, tx.Exec on a regulated table,
// tx.Audit; the sequencer chains the queued entry later.
type audited struct {
	d         *db.DB
	trial     string // trial name prefix: the variant
	chains    int
	insert    string
	startLate bool // start the sequencer only when closing
}

func (a *audited) do(ctx context.Context, g *generator, id int64) error {
	row, ev := g.account(id, trialOf(a.trial, id, a.chains))
	return a.d.Write(ctx, g.actor(), db.Scope{Trial: row.trial, Site: row.site}, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, a.insert, row.args()...); err != nil {
			return err
		}
		return tx.Audit(ev)
	})
}

func (a *audited) close(ctx context.Context) error {
	if a.startLate {
		a.d.Start(ctx)
	}
	err := a.d.WaitChained(ctx)
	return errors.Join(err, a.d.Close())
}

// plain is the same INSERT without an entry, through database/sql and pgx.
type plain struct {
	pool    *sql.DB
	trial   string
	chains  int
	insert  string
	extraRT bool // one more statement: SELECT 1
	encode  bool // encode the entry too, and discard it
}

func (p *plain) do(ctx context.Context, g *generator, id int64) error {
	row, ev := g.account(id, trialOf(p.trial, id, p.chains))
	if p.encode {
		e := audit.Entry{Time: time.Now().UTC().Truncate(time.Microsecond), Actor: g.actor(), Trial: row.trial, Site: row.site, Event: ev}
		if _, err := audit.Encode(&e); err != nil {
			return err
		}
	}
	tx, err := p.pool.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, p.insert, row.args()...); err != nil {
		return err
	}
	if p.extraRT {
		var one int
		if err := tx.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (p *plain) close(context.Context) error { return p.pool.Close() }

// naive chains inside every business transaction: it locks the chain head,
// hashes the entry after it, inserts the chained entry and advances the head,
// holding the head's row lock until the commit has been flushed.
type naive struct {
	pool   *sql.DB
	chains int
	insert string
}

func (n *naive) do(ctx context.Context, g *generator, id int64) error {
	row, ev := g.account(id, trialOf(variantNaive, id, n.chains))
	e := audit.Entry{Time: time.Now().UTC().Truncate(time.Microsecond), Actor: g.actor(), Trial: row.trial, Site: row.site, Event: ev}
	canonical, err := audit.Encode(&e)
	if err != nil {
		return err
	}
	tx, err := n.pool.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, n.insert, row.args()...); err != nil {
		return err
	}
	h := audit.Head{Chain: e.Chain()}
	var seq, at int64
	var prev []byte
	if err := tx.QueryRowContext(ctx, lockNaiveHead, h.Chain).Scan(&seq, &prev, &at); err != nil {
		return fmt.Errorf("lock head: %w", err)
	}
	if h.Hash, err = audit.HashFrom(prev); err != nil {
		return err
	}
	h.Seq, h.ChainedAt = uint64(seq), time.UnixMicro(at)
	r, _ := h.Next(canonical, e.Time, time.Now().UTC().Truncate(time.Microsecond))
	if _, err := tx.ExecContext(ctx, insertNaiveLog, r.Chain, int64(r.Seq), e.Time.UnixMicro(), r.ChainedAt.UnixMicro(),
		e.Actor.ID, e.Actor.Username, string(e.Action), e.Object.String(), e.Trial, e.Site, string(audit.Success),
		canonical, r.PrevHash[:], r.Hash[:]); err != nil {
		return fmt.Errorf("insert chained entry: %w", err)
	}
	if _, err := tx.ExecContext(ctx, advanceNaiveHead, r.Chain, int64(r.Seq), r.Hash[:], r.ChainedAt.UnixMicro()); err != nil {
		return fmt.Errorf("advance head: %w", err)
	}
	return tx.Commit()
}

func (n *naive) close(context.Context) error { return n.pool.Close() }
