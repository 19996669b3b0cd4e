package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/storage"
)

// An upload that names an instance already stored is one of three things,
// told apart by what is stored (DESIGN.md section 5, step 6):
//
//   - the same bytes for the same subject's visit: a retry, answered with
//     the stored instance and recorded as instance.duplicate;
//   - other bytes for the same subject's visit: another version of an
//     instance that is stored already, refused (0x0111);
//   - the same original SOP Instance UID for another subject, visit or
//     trial: a site error (the wrong patient's images, most likely),
//     refused (0x0111) and recorded as instance.conflict, the other side
//     named where the trial's own trail may name it.
//
// FailureReason 0x0111 is "Duplicate SOP Instance" (PS3.7 C.4.2.1.4: the
// SOP Instance UID is already registered): PS3.18 Table I.2-2 allows codes
// beyond its table, "the single most appropriate code" for the case. It is
// what is wrong in both refusals (the instance is well formed, so A9xx and
// Cxxx would mislead), and it tells a client not to retry the same bytes;
// the text reason says which case it is.
//
// The lookup happens before anything is written, so a refused instance
// normally leaves no object behind; two uploads racing past it are decided
// by the unique indexes at commit (see discard).

// stored is an instance row as the integrity checks read it, with its
// submission's place.
type stored struct {
	trial, sop, submission, site, subject, visit string
	originalSHA256, objectSHA256                 string
	originalKey                                  *string
	status, hold, class, study, series           string
	received                                     int64
	byHMAC                                       bool // found by its original SOP Instance UID's HMAC
}

// selectStored finds the instances an upload collides with: the same
// original SOP Instance UID in any trial ($1), the same de-identified UID
// in this trial ($2, $3: which also finds instances stored before
// original_sop_hmac existed), or the same original bytes in this trial
// ($2, $4). Each term is a lookup in a unique index (three rows at most).
const selectStored = `SELECT i.trial_id, i.sop_uid, i.submission_id, s.site, s.subject, s.visit, i.original_sha256,
		i.object_sha256, i.original_key, i.status, i.hold_reason, i.sop_class_uid, i.study_uid, i.series_uid,
		i.received_us, coalesce(i.original_sop_hmac = $1, false)
	FROM instances i JOIN submissions s ON s.id = i.submission_id
	WHERE i.original_sop_hmac = $1 OR (i.trial_id = $2 AND i.sop_uid = $3) OR (i.trial_id = $2 AND i.original_sha256 = $4)`

// collision is what an upload is looked up by.
type collision struct {
	hmac     string // originalSOP of its original SOP Instance UID
	trial    string
	sop      string // its de-identified SOP Instance UID in trial
	original string // SHA-256 of its bytes
}

// lookup returns the stored instance an upload collides with, nil if none:
// one in the upload's own trial first (the most telling), then one of
// another trial.
func (s *Service) lookup(ctx context.Context, c collision) (*stored, error) {
	var found []stored
	err := s.db.Read(ctx, func(r *db.Reader) error {
		rows, err := r.Query(ctx, selectStored, c.hmac, c.trial, c.sop, c.original)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st stored
			if err := rows.Scan(&st.trial, &st.sop, &st.submission, &st.site, &st.subject, &st.visit, &st.originalSHA256,
				&st.objectSHA256, &st.originalKey, &st.status, &st.hold, &st.class, &st.study, &st.series,
				&st.received, &st.byHMAC); err != nil {
				return err
			}
			found = append(found, st)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: look up stored instances: %w", err)
	}
	var best *stored
	for i := range found {
		if best == nil || found[i].trial == c.trial && best.trial != c.trial {
			best = &found[i]
		}
	}
	return best, nil
}

// judge decides an upload that collides with st: the stored instance for
// a retry (recorded as a duplicate), else the refusal.
func (u *Upload) judge(ctx context.Context, st *stored, pl placement, id identity, sp *spooled) (*Stored, error) {
	samePlace := st.trial == pl.tc.id && st.site == pl.site && st.subject == pl.subject && st.visit == pl.visit
	switch {
	case samePlace && st.originalSHA256 == sp.sha256:
		return u.duplicate(ctx, st, pl, sp)
	case samePlace:
		f := fail(FailDuplicateSOP, "this SOP instance was already received for this subject's visit with other content "+
			"(submission %s, received at %s): an instance that changed needs a new SOP Instance UID", st.submission, when(st.received))
		f.object = &audit.Object{Type: "instance", ID: st.sop}
		f.details = map[string]any{"stored_in": st.submission, "stored_object_sha256": st.objectSHA256}
		return nil, f
	}
	return nil, conflict(st, pl, id, sp)
}

// conflict is the refusal of an instance already stored for another
// subject, visit or trial. What the client is told stays within what the
// uploader may see (their own site's subjects); the trial's trail records
// both sides in full when both are the trial's, and nothing of another
// trial (another sponsor's data) but that it exists.
func conflict(st *stored, pl placement, id identity, sp *spooled) *failure {
	here := map[string]any{"site": pl.site, "subject": pl.subject, "visit": pl.visit}
	if pl.sub != nil {
		here["submission"] = pl.sub.ID
	}
	details := map[string]any{"received_for": here,
		// The trial's own pseudonym, as on instance.received: the original
		// UID is never in the trail in clear.
		"original_sop_instance_hmac": pl.tc.profile.Pseudonym(id.instance)}
	var f *failure
	switch {
	case st.trial != pl.tc.id:
		details["conflict"] = "trial"
		details["stored_in"] = map[string]any{"other_trial": true}
		f = fail(FailDuplicateSOP, "this SOP instance was already received for another trial: the site may have mixed up "+
			"patients or trials; check which trial and subject the images belong to")
	default:
		details["stored_in"] = map[string]any{"submission": st.submission, "site": st.site, "subject": st.subject,
			"visit": st.visit, "sop_instance_uid": st.sop, "received_at": when(st.received)}
		what := "another subject of this trial"
		switch {
		case st.site != pl.site:
			details["conflict"] = "site"
		case st.subject != pl.subject:
			details["conflict"] = "subject"
		default:
			details["conflict"] = "visit"
			what = fmt.Sprintf("another visit (%s) of this subject", st.visit)
		}
		if st.site == pl.site {
			if st.subject != pl.subject {
				what = fmt.Sprintf("another subject of this trial (%s, visit %s)", st.subject, st.visit)
			}
			f = fail(FailDuplicateSOP, "this SOP instance was already received for %s (submission %s, received at %s): "+
				"the site may have mixed up patients or visits; it was not stored for subject %s, visit %s",
				what, st.submission, when(st.received), pl.subject, pl.visit)
		} else {
			// Another site's subject codes and submissions are not the
			// uploader's to see; the trail has them.
			f = fail(FailDuplicateSOP, "this SOP instance was already received for a subject of another site of this trial "+
				"(received at %s): the site may have mixed up patients; it was not stored for subject %s, visit %s",
				when(st.received), pl.subject, pl.visit)
		}
		f.object = &audit.Object{Type: "instance", ID: st.sop}
	}
	f.action = audit.ActionInstanceConflict
	f.details = details
	return f
}

// when formats a stored time for a reason.
func when(us int64) string { return time.UnixMicro(us).UTC().Format(time.RFC3339) }

// duplicate answers a retry with the stored instance, recording the repeat
// (instance.duplicate, with the submission it came for, if known) and
// changing nothing else.
func (u *Upload) duplicate(ctx context.Context, st *stored, pl placement, sp *spooled) (*Stored, error) {
	out := &Stored{Trial: st.trial, SOPClassUID: st.class, SOPInstanceUID: st.sop, StudyInstanceUID: st.study,
		SeriesInstanceUID: st.series, Submission: st.submission, Duplicate: true}
	if st.status == "held" {
		out.Held = st.hold
	}
	receivedFor := st.submission
	if pl.sub != nil {
		receivedFor = pl.sub.ID
	}
	err := u.s.db.Record(ctx, u.p.Actor(auth.SiteUploader), db.Scope{Trial: st.trial, Site: st.site}, audit.Event{Action: audit.ActionInstanceDuplicate,
		Object: audit.Object{Type: "instance", ID: st.sop},
		After: map[string]any{"original_sha256": sp.sha256, "original_size": sp.size, "stored_in": st.submission,
			"received_for": receivedFor}})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Reading what a discard must know: the row at the de-identified object's
// primary key, the row holding the original SOP Instance UID's HMAC, and
// whether any row keeps the original.
const (
	selectObjectAt   = `SELECT object_sha256 FROM instances WHERE trial_id = $1 AND sop_uid = $2`
	selectHMACHolder = `SELECT count(*) FROM instances WHERE original_sop_hmac = $1`
	selectKeptBy     = `SELECT count(*) FROM instances WHERE original_sha256 = $1 AND original_key IS NOT NULL`
)

// written is what an upload put into the stores before its transaction.
type written struct {
	trial, sop string          // the de-identified instance's primary key
	hmac       string          // originalSOP of its original SOP Instance UID
	object     storage.Object  // the de-identified object
	original   *storage.Object // the kept original, if the trial keeps them
}

// discard removes the objects an upload wrote when its transaction was
// refused by a unique index (two uploads of one instance raced past the
// lookup), but only those no row references now or can ever reference, so
// that no instance is ever left pointing at a missing object. Objects are
// not in the transaction, so "no row references it" alone would race: a
// concurrent upload of the same bytes may have put (found) the same object
// and be about to commit a row for it. What makes it safe is that an
// object's bytes fix the one slot any row referring to it must occupy, and
// a slot once taken is taken for good (rows are never deleted):
//
//   - a de-identified object holds its trial (Clinical Trial Protocol ID)
//     and its de-identified SOP Instance UID, so only the row at primary
//     key (trial_id, sop_uid) can reference it;
//   - a kept original holds the original SOP Instance UID, so every row
//     keeping it carries that UID's HMAC, whose index is unique; rows from
//     before the HMAC existed are counted directly.
//
// So an object is deleted when its slot is held by a committed row that
// references something else (or, for the de-identified object, when the
// slot is free but the HMAC slot every future row for it needs is held),
// read after the refusal, when the winning row has committed. Anything
// less certain stays for the collector (gateway storage gc), unreferenced
// and invisible. Failures here are logged, never the upload's error: the
// refusal stands either way.
func (u *Upload) discard(ctx context.Context, w written) {
	s := u.s
	var pkObject *string
	var holders, kept int
	err := s.db.Read(ctx, func(r *db.Reader) error {
		var obj string
		switch err := r.QueryRow(ctx, selectObjectAt, w.trial, w.sop).Scan(&obj); {
		case err == nil:
			pkObject = &obj
		case !isNoRows(err):
			return err
		}
		if err := r.QueryRow(ctx, selectHMACHolder, w.hmac).Scan(&holders); err != nil {
			return err
		}
		if w.original != nil {
			return r.QueryRow(ctx, selectKeptBy, w.original.SHA256).Scan(&kept)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("ingest: cannot tell whether a refused upload's objects are referenced; left for the collector", "err", err)
		return
	}
	if pkObject != nil && *pkObject != w.object.SHA256 || pkObject == nil && holders > 0 {
		s.remove(ctx, s.store, w.object.Key, "de-identified object")
	}
	if w.original != nil && kept == 0 && holders > 0 {
		s.remove(ctx, s.originals, w.original.Key, "kept original")
	}
}

// remove deletes an unreferenced object, logging (never returning) a
// failure: the collector removes it later.
func (s *Service) remove(ctx context.Context, store storage.Store, key, what string) {
	if err := store.Delete(ctx, key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.Warn("ingest: remove a refused upload's "+what+"; left for the collector", "key", key, "err", err)
		return
	}
	s.log.Debug("ingest: removed a refused upload's "+what, "key", key)
}
