package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/deid"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/qc"
)

// STOW-RS failure reasons (PS3.18 Table 10.5.3-2 and PS3.4 Annex GG).
const (
	FailProcessing       uint16 = 0x0110 // processing failure
	FailDuplicateSOP     uint16 = 0x0111 // the SOP instance is already stored with other content
	FailSOPClass         uint16 = 0x0122 // SOP class not supported (by this trial)
	FailNotAuthorized    uint16 = 0x0124 // refused: not authorized
	FailOutOfResources   uint16 = 0xA700 // refused: out of resources
	FailDoesNotMatch     uint16 = 0xA900 // data set does not match the SOP class / target
	FailCannotUnderstand uint16 = 0xC000 // not DICOM, truncated, malformed
	FailTransferSyntax   uint16 = 0xC122 // transfer syntax not supported
)

// Target is where a STOW-RS request stores its instances.
type Target struct {
	// Submission is the submission of POST /dicomweb/submissions/{id}/studies.
	Submission string
	// Trial is the trial of POST /dicomweb/trials/{trial}/studies: each
	// instance's Clinical Trial Subject module tags say where it belongs.
	Trial string
}

// Receipt is the outcome of one part: Stored when it was stored (or
// already had been), else a failure reason for the FailedSOPSequence.
type Receipt struct {
	// The SOP class and instance UIDs the part declared (the sender's
	// own, as they sent them), for FailedSOPSequence; empty when the part
	// could not be parsed that far.
	SOPClassUID, SOPInstanceUID string

	Stored *Stored

	Failure uint16
	Reason  string // readable, names what is wrong; never PHI
	// Locked is the refusal of a data lock over the part's scope (a
	// trialgate.ELocked error naming the lock), already recorded by the
	// write path; nil otherwise.
	Locked error
}

// Stored describes a stored de-identified instance.
type Stored struct {
	Trial                                                            string
	SOPClassUID, SOPInstanceUID, StudyInstanceUID, SeriesInstanceUID string
	Submission                                                       string
	Duplicate                                                        bool   // the same bytes had been received before
	Held                                                             string // why it is held for review; "" when released
}

// Upload is one STOW-RS request in progress.
type Upload struct {
	s      *Service
	p      *auth.Principal
	target Target
	sub    *Submission  // fixed by the target, or nil (decided per instance)
	tc     *trialConfig // of sub, or the trial's newest approved version
}

// Begin checks a STOW-RS request's target before any part is read: the
// submission exists, takes uploads, and the caller is a site uploader of
// its site; or, for a trial, that the caller uploads for some site of it.
// Refusals are audited.
func (s *Service) Begin(ctx context.Context, p *auth.Principal, t Target) (*Upload, error) {
	u := &Upload{s: s, p: p, target: t}
	if t.Submission != "" {
		sub, err := s.submission(ctx, t.Submission)
		if err != nil {
			return nil, err
		}
		if _, err := auth.Require(ctx, s.db, p, sub.scope(), submissionObject(sub.ID),
			fmt.Sprintf("only a site uploader of site %q may upload to this submission", sub.Site), auth.SiteUploader); err != nil {
			return nil, err
		}
		if !sub.uploadable() {
			msg := fmt.Sprintf("submission %s is %s: it takes no more uploads", sub.ID, sub.Status)
			if err := s.db.Record(ctx, p.Actor(auth.SiteUploader), sub.scope(), audit.Event{Action: audit.ActionInstanceRejected,
				Outcome: audit.Failed, Object: submissionObject(sub.ID), Reason: msg}); err != nil {
				return nil, err
			}
			return nil, trialgate.Errorf(trialgate.EConflict, "%s", msg)
		}
		tc, err := s.trialVersion(ctx, sub.Trial, sub.TrialVersion)
		if err != nil {
			return nil, err
		}
		if err := s.canKeepOriginals(tc); err != nil {
			return nil, err
		}
		u.sub, u.tc = &sub, tc
		return u, nil
	}
	if !uploadsFor(p, t.Trial) {
		return nil, auth.Deny(ctx, s.db, p, db.TrialScope(t.Trial), audit.Object{Type: "trial", ID: t.Trial},
			"only a site uploader of the trial may upload to it")
	}
	tc, err := s.trialConfig(ctx, t.Trial)
	if err != nil {
		return nil, err
	}
	if err := s.canKeepOriginals(tc); err != nil {
		return nil, err
	}
	u.tc = tc
	return u, nil
}

// canKeepOriginals refuses uploads for a trial that keeps PHI originals
// when no restricted store is configured: they would be lost.
func (s *Service) canKeepOriginals(tc *trialConfig) error {
	if tc.def.Deid.KeepOriginal && s.originals == nil {
		return trialgate.Errorf(trialgate.EUnavailable, "trial %s keeps PHI originals but the gateway has no restricted originals store (--originals-dir or --s3-originals-bucket)", tc.id)
	}
	return nil
}

// uploadsFor reports whether p uploads for any site of trialID.
func uploadsFor(p *auth.Principal, trialID string) bool {
	for _, g := range p.Grants {
		if g.Role == auth.SiteUploader && g.Trial == trialID {
			return true
		}
	}
	return false
}

// scope is what the upload touches before an instance is placed: its
// submission, or the trial.
func (u *Upload) scope() db.Scope {
	if u.sub != nil {
		return u.sub.scope()
	}
	return db.TrialScope(u.tc.id)
}

// Refuse records a part refused before the pipeline could read it (e.g.
// a part that is not application/dicom) and returns its receipt.
func (u *Upload) Refuse(ctx context.Context, failure uint16, reason string) (Receipt, error) {
	obj := audit.Object{Type: "trial", ID: u.tc.id}
	if u.sub != nil {
		obj = submissionObject(u.sub.ID)
	}
	err := u.s.db.Record(ctx, u.p.Actor(auth.SiteUploader), u.scope(), audit.Event{Action: audit.ActionInstanceRejected,
		Outcome: audit.Failed, Object: obj, Reason: reason})
	return Receipt{Failure: failure, Reason: reason}, err
}

// failure is a refused part: the receipt's reason and code, and what its
// audit entry records.
type failure struct {
	code    uint16
	reason  string        // for the receipt and the entry: never PHI, never an original UID
	outcome audit.Outcome // Failed, or Denied for authorization
	action  audit.Action  // the entry's action; "" is instance.rejected
	object  *audit.Object // the entry's object; nil is the upload (its SHA-256)
	details map[string]any
}

func (f *failure) Error() string { return f.reason }

func fail(code uint16, format string, args ...any) *failure {
	return &failure{code: code, reason: fmt.Sprintf(format, args...), outcome: audit.Failed}
}

// Store runs the pipeline for one part. A part the pipeline refuses gets
// a receipt with a failure reason (and its audit entry); the error is
// for the request as a whole: the client went away, or the database or
// object store is down (then nothing of the part was recorded).
func (u *Upload) Store(ctx context.Context, part io.Reader) (Receipt, error) {
	sp, err := u.s.spool(part)
	if err != nil {
		return Receipt{}, err
	}
	defer u.s.release(sp)
	r := Receipt{}
	stored, scope, err := u.store(ctx, sp, &r)
	var f *failure
	if errors.As(err, &f) {
		r.Failure, r.Reason = f.code, f.reason
		ev := audit.Event{Action: audit.ActionInstanceRejected, Outcome: f.outcome,
			Object: audit.Object{Type: "upload", ID: "sha256:" + sp.sha256}, Reason: f.reason}
		if f.action != "" {
			ev.Action = f.action
		}
		if f.object != nil {
			ev.Object = *f.object
		}
		after := map[string]any{"original_sha256": sp.sha256, "original_size": sp.size, "failure_reason": f.code}
		for k, v := range f.details {
			after[k] = v
		}
		ev.After = after
		return r, u.s.db.Record(ctx, u.p.Actor(auth.SiteUploader), scope, ev)
	}
	if trialgate.ErrorCode(err) == trialgate.ELocked {
		// The write path refused the part and recorded the refusal
		// (access.denied_locked); the other parts go on.
		r.Failure, r.Reason, r.Locked = FailNotAuthorized, trialgate.ErrorMessage(err), err
		return r, nil
	}
	if err != nil {
		return Receipt{}, err
	}
	r.Stored = stored
	return r, nil
}

// parseFailure maps a header parse error to a receipt failure.
func parseFailure(err error) *failure {
	code := FailCannotUnderstand
	switch {
	case errors.Is(err, dicom.ErrUnsupported):
		code = FailTransferSyntax
	case errors.Is(err, dicom.ErrTooLarge):
		code = FailOutOfResources
	}
	return fail(code, "%s", strings.TrimPrefix(err.Error(), "dicom: "))
}

// store does the work of Store; it returns the scope the part was for (its
// subject's visit once it is placed).
//
// The order is what keeps a refused part from leaving anything behind:
// everything that can refuse it without writing (the header, its UIDs,
// its placement, an instance already stored, QC) runs before the object
// is put; the object is put before the transaction that records it, so a
// row never references a missing object; and when the transaction is
// refused by a unique index after all (a race), discard removes what the
// part wrote if nothing can reference it.
func (u *Upload) store(ctx context.Context, sp *spooled, r *Receipt) (*Stored, db.Scope, error) {
	s := u.s
	src, err := sp.rewind()
	if err != nil {
		return nil, u.scope(), err
	}
	obj, err := dicom.Parse(src, s.limits)
	if errors.Is(err, dicom.ErrUnsupported) {
		if src, err = sp.rewind(); err != nil {
			return nil, u.scope(), err
		}
		return nil, u.scope(), syntaxFailure(src)
	}
	if err != nil {
		return nil, u.scope(), parseFailure(err)
	}
	// The UIDs are checked as sent, before anything is derived from them:
	// de-identification would remap even "../../etc/passwd" into a valid
	// UID. The receipt names only those that are valid.
	id, f := checkInstance(obj)
	r.SOPClassUID, r.SOPInstanceUID = id.class, id.instance
	if f != nil {
		return nil, u.scope(), f
	}

	pl, err := u.resolve(ctx, obj.Dataset)
	if err != nil {
		return nil, u.scope(), err
	}
	sopHMAC := s.originalSOP(id.instance)
	coll := collision{hmac: sopHMAC, trial: pl.tc.id, sop: pl.tc.profile.UID(id.instance), original: sp.sha256}
	if st, err := s.lookup(ctx, coll); err != nil {
		return nil, pl.scope(), err
	} else if st != nil {
		out, err := u.judge(ctx, st, pl, id, sp)
		return out, pl.scope(), err
	}
	sub, err := u.open(ctx, pl)
	if err != nil {
		return nil, pl.scope(), err
	}
	tc := pl.tc
	if sub.TrialVersion != tc.version {
		if tc, err = s.trialVersion(ctx, sub.Trial, sub.TrialVersion); err != nil {
			return nil, sub.scope(), err
		}
	}
	pl.sub, pl.tc = &sub, tc

	// QC reads the header as acquired: de-identification removes some of
	// what the rules look at (the clinical trial tags it rewrites).
	results := qc.Instance(tc.def.QC.Rules, obj.Dataset, qc.Context{Site: sub.Site, Subject: sub.Subject, Visit: sub.Visit})
	if bad, ok := qc.Refusal(results); ok {
		code := FailDoesNotMatch
		if bad.Kind == "allowed_sop_classes" {
			code = FailSOPClass
		}
		return nil, sub.scope(), fail(code, "QC rule %s: %s is not allowed in this trial (expected %s)", bad.Rule, bad.Seen, bad.Expected)
	}
	syntax := obj.Syntax.UID
	subj := deid.Subject{Site: sub.Site, Subject: sub.Subject, Visit: sub.Visit}
	res, err := tc.profile.Apply(obj.Meta, obj.Dataset, subj)
	if err != nil {
		return nil, sub.scope(), fail(FailCannotUnderstand, "cannot de-identify: %s", trialgate.ErrorMessage(err))
	}
	for i := range results {
		results[i].Subject = res.SOPInstanceUID
	}

	stored, err := u.put(ctx, obj, tc, subj, res)
	if err != nil {
		return nil, sub.scope(), err
	}
	w := written{trial: tc.id, sop: res.SOPInstanceUID, hmac: sopHMAC, object: stored}
	metadata, err := json.Marshal(obj.Dataset)
	if err != nil {
		return nil, sub.scope(), fmt.Errorf("ingest: metadata: %w", err)
	}
	var originalKey *string
	if tc.def.Deid.KeepOriginal {
		if err := s.canKeepOriginals(tc); err != nil {
			return nil, sub.scope(), err
		}
		src, err := sp.rewind()
		if err != nil {
			return nil, sub.scope(), err
		}
		o, err := s.originals.Put(ctx, src)
		if err != nil {
			return nil, sub.scope(), err
		}
		originalKey, w.original = &o.Key, &o
	}
	sum := qc.SummaryOf(obj.Dataset, sp.sha256)
	in := instanceRow{
		sub: sub, res: res, sum: sum, syntax: syntax, sp: sp, object: stored, metadata: metadata,
		originalKey: originalKey, originalSOP: sopHMAC, results: results, options: tc.def.Deid.Options,
	}
	out := &Stored{Trial: tc.id, SOPClassUID: res.SOPClassUID, SOPInstanceUID: res.SOPInstanceUID,
		StudyInstanceUID: res.StudyInstanceUID, SeriesInstanceUID: res.SeriesInstanceUID, Submission: sub.ID, Held: res.Hold}
	err = s.db.Write(ctx, u.p.Actor(auth.SiteUploader), sub.scope(), func(tx *db.Tx) error { return u.record(ctx, tx, in) })
	switch {
	case errors.Is(err, db.ErrDuplicate):
		// Another upload of the same instance committed between the
		// lookup above and this transaction (the unique indexes decide
		// the race; the common case, a new instance, pays one lookup).
		// Read what won and judge this part against it.
		coll.sop = res.SOPInstanceUID
		st, lerr := s.lookup(ctx, coll)
		if lerr != nil {
			return nil, sub.scope(), lerr
		}
		var dup *Stored
		if st != nil {
			dup, err = u.judge(ctx, st, pl, id, sp)
		} else {
			err = fail(FailDuplicateSOP, "SOP instance %s is already stored in this trial with other content", res.SOPInstanceUID)
		}
		u.discard(ctx, w)
		return dup, sub.scope(), err
	case err != nil:
		// A refusal here (the submission was closed meanwhile) leaves the
		// object for the collector: nothing proves that no other upload of
		// the same bytes will commit a row for it.
		return nil, sub.scope(), err
	}
	return out, sub.scope(), nil
}
