package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/trialgate/trialgate/audit"
)

const (
	selectHeads   = `SELECT chain, seq, hash, chained_us FROM audit_head`
	selectRecords = `SELECT chain, seq, event_us, chained_us, prev_hash, hash, canonical FROM audit_log`
)

// scanRecord reads one row of selectRecords.
func scanRecord(rows *sql.Rows, r *audit.Record) error {
	var seq, ev, at int64
	var prev, hash []byte
	if err := rows.Scan(&r.Chain, &seq, &ev, &at, &prev, &hash, &r.Entry); err != nil {
		return err
	}
	r.Seq, r.EventTime, r.ChainedAt = uint64(seq), fromMicros(ev), fromMicros(at)
	var err error
	if r.PrevHash, err = audit.HashFrom(prev); err != nil {
		return err
	}
	r.Hash, err = audit.HashFrom(hash)
	return err
}

// filterSQL builds the WHERE clause and arguments of f.
func filterSQL(f audit.Filter) (string, []any) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Chains != nil {
		if len(f.Chains) == 0 {
			where = append(where, "1 = 0")
		} else {
			ps := make([]string, len(f.Chains))
			for i, c := range f.Chains {
				ps[i] = arg(c)
			}
			where = append(where, "chain IN ("+strings.Join(ps, ", ")+")")
		}
	}
	if f.Object != "" {
		where = append(where, "object = "+arg(f.Object))
	}
	if f.Actor != "" {
		p := arg(f.Actor)
		where = append(where, "(actor_id = "+p+" OR actor_username = "+p+")")
	}
	if f.Action != "" {
		where = append(where, "action = "+arg(string(f.Action)))
	}
	if f.Outcome != "" {
		where = append(where, "outcome = "+arg(string(f.Outcome)))
	}
	if f.PostLock {
		where = append(where, "action IN ("+arg(string(audit.ActionAccessDeniedLocked))+", "+arg(string(audit.ActionAccessAfterLock))+")")
	}
	if !f.From.IsZero() {
		where = append(where, "event_us >= "+arg(micros(f.From)))
	}
	if !f.To.IsZero() {
		where = append(where, "event_us < "+arg(micros(f.To)))
	}
	q := ""
	if len(where) > 0 {
		q = " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY chain, seq"
	if f.Limit > 0 {
		q += " LIMIT " + arg(f.Limit)
	}
	return q, args
}

// AuditRecords streams the chained entries that match f to fn, in chain and
// seq order, from one snapshot. Entries still queued for the sequencer are
// not yet part of the trail and are not returned.
func (d *DB) AuditRecords(ctx context.Context, f audit.Filter, fn func(*audit.Record) error) error {
	return d.Read(ctx, func(r *Reader) error { return eachRecord(ctx, r, f, fn) })
}

// errStop ends eachRecord early without an error.
var errStop = errors.New("stop")

// eachRecord streams the records matching f to fn; fn may return errStop.
func eachRecord(ctx context.Context, r *Reader, f audit.Filter, fn func(*audit.Record) error) error {
	where, args := filterSQL(f)
	rows, err := r.Query(ctx, selectRecords+where, args...)
	if err != nil {
		return fmt.Errorf("db: query audit: %w", err)
	}
	defer rows.Close()
	var rec audit.Record
	for rows.Next() {
		if err := scanRecord(rows, &rec); err != nil {
			return fmt.Errorf("db: read audit: %w", err)
		}
		if err := fn(&rec); err != nil {
			if err == errStop {
				return nil
			}
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("db: read audit: %w", err)
	}
	return nil
}

// VerifyAudit recomputes the chains named (all chains when none are) from
// one snapshot and compares each with its recorded head. It stops at the
// first bad entry.
func (d *DB) VerifyAudit(ctx context.Context, chains ...string) (audit.Report, error) {
	var rep audit.Report
	err := d.Read(ctx, func(r *Reader) error {
		want := make(map[string]bool, len(chains))
		for _, c := range chains {
			want[c] = true
		}
		heads := []audit.Head{}
		rows, err := r.Query(ctx, selectHeads)
		if err != nil {
			return fmt.Errorf("db: read heads: %w", err)
		}
		for rows.Next() {
			var h audit.Head
			var seq, at int64
			var hash []byte
			if err := rows.Scan(&h.Chain, &seq, &hash, &at); err != nil {
				rows.Close()
				return fmt.Errorf("db: read heads: %w", err)
			}
			if len(chains) > 0 && !want[h.Chain] {
				continue
			}
			h.Seq, h.ChainedAt = uint64(seq), fromMicros(at)
			if h.Hash, err = audit.HashFrom(hash); err != nil {
				rows.Close()
				return fmt.Errorf("db: head of %s: %w", h.Chain, err)
			}
			heads = append(heads, h)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("db: read heads: %w", err)
		}
		f := audit.Filter{}
		if len(chains) > 0 {
			f.Chains = chains
		}
		v := audit.NewVerifier()
		err = eachRecord(ctx, r, f, func(rec *audit.Record) error {
			if v.Add(rec) != nil {
				return errStop
			}
			return nil
		})
		if err != nil {
			return err
		}
		rep = v.Finish(heads)
		return nil
	})
	return rep, err
}

// Chains lists the names of the chains that have entries.
func (d *DB) Chains(ctx context.Context) ([]string, error) {
	var out []string
	err := d.Read(ctx, func(r *Reader) error {
		rows, err := r.Query(ctx, `SELECT chain FROM audit_head ORDER BY chain`)
		if err != nil {
			return fmt.Errorf("db: list chains: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}
