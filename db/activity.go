package db

import (
	"context"
	"fmt"
	"time"
)

const (
	upsertActivity = `INSERT INTO activity (key, at_us) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET at_us = excluded.at_us WHERE activity.at_us < excluded.at_us`
	selectActivity = `SELECT at_us FROM activity WHERE key = $1`
)

// MarkActivity records that key (e.g. "session/<id>") was used at t. It is
// the one write outside the unit of work: operational state that changes on
// every request (for idle timeouts), which must not flood the audit trail.
// It runs a single fixed statement and never touches regulated data.
func (d *DB) MarkActivity(ctx context.Context, key string, t time.Time) error {
	if _, err := d.write.ExecContext(ctx, upsertActivity, key, micros(t)); err != nil {
		return d.classify(fmt.Errorf("db: mark activity: %w", err))
	}
	return nil
}

// Activity returns when key was last marked, or the zero time.
func (r *Reader) Activity(ctx context.Context, key string) (time.Time, error) {
	var us int64
	err := r.QueryRow(ctx, selectActivity, key).Scan(&us)
	if err != nil {
		if isNoRows(err) {
			return time.Time{}, nil
		}
		return time.Time{}, fmt.Errorf("db: activity: %w", err)
	}
	return fromMicros(us), nil
}
