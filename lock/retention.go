package lock

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/storage"
)

// Retainer places and lifts WORM retention on stored objects: the S3
// store with Object Lock (storage/s3). With one, the objects of every
// lock's manifest get retention the store enforces, and lose it (where
// the mode permits) when the lock is released and no other lock in force
// holds them. The filesystem store has none to offer.
type Retainer interface {
	Retain(ctx context.Context, key string) (storage.Retention, error)
	Unretain(ctx context.Context, key string) error
}

// RetentionEvent is a step of a lock's WORM retention, as shown with the
// lock: its objects were retained, or after its release their retention
// was lifted (Kept counts those left retained).
type RetentionEvent struct {
	Event   string `json:"event"` // retained, lifted
	At      string `json:"at"`
	Mode    string `json:"mode"`            // GOVERNANCE or COMPLIANCE
	Until   string `json:"until,omitempty"` // when the retention placed ends
	Objects int    `json:"objects"`
	Kept    int    `json:"kept,omitempty"`
}

const (
	// retentionPoll is how often RunRetention looks for pending work
	// besides being woken by Apply and Release: it retries what an outage
	// of the store left undone.
	retentionPoll = time.Minute
	// retentionWorkers bounds the concurrent requests to the store.
	retentionWorkers = 8
)

const (
	retentionLocks = `SELECT id, trial_id, site, subject, visit FROM locks WHERE `
	selectToRetain = retentionLocks + `released_us IS NULL
		AND NOT EXISTS (SELECT 1 FROM lock_retention r WHERE r.lock_id = locks.id AND r.event = 'retained') ORDER BY locked_us, id`
	selectToLift = retentionLocks + `released_us IS NOT NULL
		AND EXISTS (SELECT 1 FROM lock_retention r WHERE r.lock_id = locks.id AND r.event = 'retained')
		AND NOT EXISTS (SELECT 1 FROM lock_retention r WHERE r.lock_id = locks.id AND r.event = 'lifted') ORDER BY released_us, id`
	selectLockObjects = `SELECT value FROM lock_leaves WHERE lock_id = $1 AND kind = 'instance'`
	// Objects held by a lock in force that has been retained, or is about
	// to be: every lock in force.
	selectHeldObjects = `SELECT l.value FROM lock_leaves l JOIN locks k ON k.id = l.lock_id
		WHERE k.trial_id = $1 AND k.released_us IS NULL AND l.kind = 'instance'`
	selectRetainedMode = `SELECT mode FROM lock_retention WHERE lock_id = $1 AND event = 'retained'`
	insertRetention    = `INSERT INTO lock_retention (lock_id, event, at_us, mode, until_us, objects, kept) VALUES ($1, $2, $3, $4, $5, $6, $7)`
	selectRetentions   = `SELECT lock_id, event, at_us, mode, until_us, objects, kept FROM lock_retention
		WHERE lock_id IN (SELECT id FROM locks WHERE trial_id = $1) ORDER BY lock_id, at_us`
)

// wakeRetention tells RunRetention that a lock was applied or released.
func (s *Service) wakeRetention() {
	if s.retainer == nil {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// RunRetention keeps the store's WORM retention in step with the locks
// until ctx ends: after every Apply and Release, and every minute, it runs
// SyncRetention. Failures (the store unreachable) are logged and retried.
// Without a Retainer it returns at once.
func (s *Service) RunRetention(ctx context.Context) {
	if s.retainer == nil {
		return
	}
	t := time.NewTicker(retentionPoll)
	defer t.Stop()
	for {
		if err := s.SyncRetention(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("lock: WORM retention incomplete; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
	}
}

// pendingLock is a lock whose retention has work to do.
type pendingLock struct {
	id    string
	scope db.Scope
}

// SyncRetention does the pending retention work once: it lifts the
// retention of released locks' objects, then retains the objects of
// locks in force that have none yet, each step recorded (lock.retained,
// lock.retention_lifted) when it is complete. Lifting first means a
// lock applied meanwhile over the same objects retains them again.
func (s *Service) SyncRetention(ctx context.Context) error {
	if s.retainer == nil {
		return nil
	}
	lifts, err := s.pending(ctx, selectToLift)
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range lifts {
		errs = append(errs, s.lift(ctx, l))
	}
	retains, err := s.pending(ctx, selectToRetain)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range retains {
		errs = append(errs, s.retain(ctx, l))
	}
	return errors.Join(errs...)
}

func (s *Service) pending(ctx context.Context, query string) ([]pendingLock, error) {
	var out []pendingLock
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, query)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p pendingLock
			if err := rows.Scan(&p.id, &p.scope.Trial, &p.scope.Site, &p.scope.Subject, &p.scope.Visit); err != nil {
				return err
			}
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("lock: retention: pending locks: %w", err)
	}
	return out, nil
}

// objectKeys returns the store keys of the instance leaves query selects.
func (s *Service) objectKeys(ctx context.Context, query string, arg any) (map[string]bool, error) {
	keys := map[string]bool{}
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, query, arg)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var value string
			if err := rows.Scan(&value); err != nil {
				return err
			}
			key, err := objectKey(value)
			if err != nil {
				return err
			}
			keys[key] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("lock: retention: objects: %w", err)
	}
	return keys, nil
}

// objectKey is the store key of an instance leaf's value, whose first
// field is the object's SHA-256 (see Leaf).
func objectKey(value string) (string, error) {
	h, _, _ := strings.Cut(value, " ")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("instance leaf %q has no object hash", value)
	}
	return storage.Key([32]byte(b)), nil
}

// each runs fn on every key, retentionWorkers at a time, and returns the
// first error.
func each(ctx context.Context, keys map[string]bool, fn func(ctx context.Context, key string) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(retentionWorkers, len(keys)) {
		wg.Go(func() {
			for k := range work {
				if err := fn(ctx, k); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for k := range keys {
		select {
		case work <- k:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return context.Cause(ctx)
}

// retain places retention on every object of the lock, then records it.
func (s *Service) retain(ctx context.Context, l pendingLock) error {
	keys, err := s.objectKeys(ctx, selectLockObjects, l.id)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var placed storage.Retention
	err = each(ctx, keys, func(ctx context.Context, key string) error {
		r, err := s.retainer.Retain(ctx, key)
		if err != nil {
			return fmt.Errorf("lock %s: retain %s: %w", l.id, key, err)
		}
		mu.Lock()
		if placed.Until.IsZero() || r.Until.Before(placed.Until) {
			placed = r
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	var until int64
	after := map[string]any{"objects": len(keys)}
	if !placed.Until.IsZero() {
		until = placed.Until.UnixMicro()
		after["mode"], after["until"] = placed.Mode, formatTime(until)
	}
	return s.recordRetention(ctx, l, "retained", audit.Event{Action: audit.ActionLockRetained, Object: lockObject(l.id), After: after},
		placed.Mode, until, len(keys), 0)
}

// lift removes the retention of a released lock's objects, except those
// another lock in force holds, and records what it did. COMPLIANCE
// retention stays until it expires; it is counted as kept.
func (s *Service) lift(ctx context.Context, l pendingLock) error {
	keys, err := s.objectKeys(ctx, selectLockObjects, l.id)
	if err != nil {
		return err
	}
	held, err := s.objectKeys(ctx, selectHeldObjects, l.scope.Trial)
	if err != nil {
		return err
	}
	free := map[string]bool{}
	for k := range keys {
		if !held[k] {
			free[k] = true
		}
	}
	var mu sync.Mutex
	var compliance int
	err = each(ctx, free, func(ctx context.Context, key string) error {
		err := s.retainer.Unretain(ctx, key)
		switch {
		case errors.Is(err, storage.ErrRetained):
			mu.Lock()
			compliance++
			mu.Unlock()
		case err != nil:
			return fmt.Errorf("lock %s: lift retention of %s: %w", l.id, key, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// A lock applied over these objects while they were being lifted
	// (by another replica) must not lose its retention: retain again
	// what a lock in force now holds.
	now, err := s.objectKeys(ctx, selectHeldObjects, l.scope.Trial)
	if err != nil {
		return err
	}
	again := map[string]bool{}
	for k := range free {
		if now[k] && !held[k] {
			again[k] = true
		}
	}
	if err := each(ctx, again, func(ctx context.Context, key string) error {
		_, err := s.retainer.Retain(ctx, key)
		return err
	}); err != nil {
		return fmt.Errorf("lock %s: retain objects a new lock holds: %w", l.id, err)
	}
	kept := len(keys) - len(free) + compliance + len(again)
	var mode string
	if err := s.db.Read(ctx, func(r *db.Reader) error {
		return r.QueryRow(ctx, selectRetainedMode, l.id).Scan(&mode)
	}); err != nil {
		return fmt.Errorf("lock %s: retention mode: %w", l.id, err)
	}
	after := map[string]any{"objects": len(keys), "lifted": len(keys) - kept,
		"kept_by_other_locks": len(keys) - len(free) + len(again), "kept_compliance": compliance}
	ev := audit.Event{Action: audit.ActionLockRetentionLift, Object: lockObject(l.id), After: after}
	if compliance > 0 {
		ev.Reason = "COMPLIANCE retention cannot be lifted before it expires"
	}
	return s.recordRetention(ctx, l, "lifted", ev, mode, 0, len(keys)-kept, kept)
}

// recordRetention records a retention step of a lock with its audit
// entry. Another replica may have recorded it first, which is no error.
func (s *Service) recordRetention(ctx context.Context, l pendingLock, event string, ev audit.Event, mode string, until int64, objects, kept int) error {
	err := s.db.Write(ctx, audit.System("lock"), l.scope, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, insertRetention, l.id, event, s.now().UnixMicro(), mode, until, objects, kept); err != nil {
			return err
		}
		return tx.Audit(ev)
	})
	if errors.Is(err, db.ErrDuplicate) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lock %s: record retention %s: %w", l.id, event, err)
	}
	s.log.Info("lock: WORM retention "+event, "lock", l.id, "objects", objects, "kept", kept)
	return nil
}

// retentions returns the retention steps of a trial's locks, by lock.
func retentions(ctx context.Context, r *db.Reader, trialID string) (map[string][]RetentionEvent, error) {
	rows, err := r.Query(ctx, selectRetentions, trialID)
	if err != nil {
		return nil, fmt.Errorf("lock: retention: %w", err)
	}
	defer rows.Close()
	out := map[string][]RetentionEvent{}
	for rows.Next() {
		var id string
		var at, until int64
		var e RetentionEvent
		if err := rows.Scan(&id, &e.Event, &at, &e.Mode, &until, &e.Objects, &e.Kept); err != nil {
			return nil, fmt.Errorf("lock: retention: %w", err)
		}
		e.At = formatTime(at)
		if until != 0 {
			e.Until = formatTime(until)
		}
		out[id] = append(out[id], e)
	}
	return out, rows.Err()
}
