package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/audit"
	"github.com/trialgate/trialgate/auth"
	"github.com/trialgate/trialgate/db"
	"github.com/trialgate/trialgate/deid"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/qc"
	"github.com/trialgate/trialgate/storage"
)

const (
	insertInstance = `INSERT INTO instances (trial_id, sop_uid, submission_id, study_uid, series_uid, sop_class_uid,
		modality, series_description, frame_of_reference, instance_number, transfer_syntax, original_sha256,
		original_size, original_key, object_sha256, object_size, status, hold_reason, metadata, received_us, received_by,
		original_sop_hmac)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`
)

// instanceRow is everything one instance's transaction records.
type instanceRow struct {
	sub         Submission
	res         *deid.Result
	sum         qc.Summary
	syntax      string
	sp          *spooled
	object      storage.Object
	metadata    []byte
	originalKey *string
	originalSOP string // Service.originalSOP of the original SOP Instance UID
	results     []qc.Result
	options     []string
}

// record writes an instance's rows and every audit entry about it in one
// transaction (in the submission's scope), after checking (and locking)
// that its submission still takes uploads.
func (u *Upload) record(ctx context.Context, tx *db.Tx, in instanceRow) error {
	now := u.s.clock()
	sub, res := in.sub, in.res
	n, err := tx.Exec(ctx, touchUploadable, sub.ID, now.UnixMicro())
	if err != nil {
		return fmt.Errorf("ingest: lock submission: %w", err)
	}
	if n != 1 {
		return fail(FailProcessing, "submission %s was closed during the upload", sub.ID)
	}
	status := "released"
	if res.Hold != "" {
		status = "held"
	}
	var number any
	if in.sum.InstanceNumber != nil {
		number = *in.sum.InstanceNumber
	}
	if _, err := tx.Exec(ctx, insertInstance, sub.Trial, res.SOPInstanceUID, sub.ID, res.StudyInstanceUID,
		res.SeriesInstanceUID, res.SOPClassUID, in.sum.Modality, in.sum.SeriesDescription, in.sum.FrameOfReferenceUID,
		number, in.syntax, in.sp.sha256, in.sp.size, in.originalKey, in.object.SHA256, in.object.Size, status, res.Hold,
		in.metadata, now.UnixMicro(), tx.Actor().ID, in.originalSOP); err != nil {
		return fmt.Errorf("ingest: insert instance: %w", err)
	}
	if err := insertResults(ctx, tx, sub.ID, 0, res.SOPInstanceUID, in.results, now); err != nil {
		return err
	}
	obj := audit.Object{Type: "instance", ID: res.SOPInstanceUID}
	events := []audit.Event{
		{Action: audit.ActionInstanceReceived, Object: obj, After: map[string]any{
			"submission": sub.ID, "original_sha256": in.sp.sha256, "original_size": in.sp.size,
			"transfer_syntax": in.syntax, "sop_class_uid": res.SOPClassUID,
			// Keyed HMACs: they correlate with the site's records without
			// disclosing them.
			"original_sop_instance_hmac": res.Original.SOPInstanceUID, "original_patient_id_hmac": res.Original.PatientID,
			"original_kept": in.originalKey != nil,
		}},
		{Action: audit.ActionInstanceDeidentified, Object: obj, After: map[string]any{
			"profile": "PS3.15 Annex E Basic Application Level Confidentiality Profile", "options": nonNil(in.options),
			"method": res.Method, "counts": res.Counts, "object_sha256": in.object.SHA256, "object_size": in.object.Size,
			"study_instance_uid": res.StudyInstanceUID, "series_instance_uid": res.SeriesInstanceUID,
		}},
	}
	if res.Hold != "" {
		events = append(events, audit.Event{Action: audit.ActionInstanceQuarantined, Object: obj,
			After: map[string]string{"status": "held"}, Reason: res.Hold})
	}
	events = append(events, audit.Event{Action: audit.ActionQCEvaluated, Object: obj, After: qcSummary(0, in.results)})
	for _, ev := range events {
		if err := tx.Audit(ev); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// errStoreGaveUp stops the object writer when the store has stopped
// reading (it failed, or the request ended).
var errStoreGaveUp = errors.New("ingest: the object store stopped reading")

// put streams the de-identified object into the store: the header as
// de-identified, then Pixel Data byte for byte, then whatever follows it,
// de-identified too.
func (u *Upload) put(ctx context.Context, obj *dicom.Object, tc *trialConfig, subj deid.Subject, res *deid.Result) (storage.Object, error) {
	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	go func() {
		_, err := obj.Write(pw, func(ds *dicom.Dataset) error { return tc.profile.Trailer(ds, subj, res) })
		pw.CloseWithError(err)
		werr <- err
	}()
	o, err := u.s.store.Put(ctx, pr)
	pr.CloseWithError(errStoreGaveUp)
	switch wErr := <-werr; {
	case wErr != nil && !errors.Is(wErr, errStoreGaveUp):
		// The object itself is bad (e.g. truncated inside Pixel Data), or
		// its trailing elements cannot be de-identified: the store only
		// saw the writer's error.
		if errors.Is(wErr, dicom.ErrTruncated) || errors.Is(wErr, dicom.ErrMalformed) || errors.Is(wErr, dicom.ErrTooLarge) {
			return storage.Object{}, parseFailure(wErr)
		}
		if trialgate.ErrorCode(wErr) == trialgate.EInvalid {
			return storage.Object{}, fail(FailCannotUnderstand, "cannot de-identify: %s", trialgate.ErrorMessage(wErr))
		}
		return storage.Object{}, fmt.Errorf("ingest: write object: %w", wErr)
	case err != nil:
		return storage.Object{}, fmt.Errorf("ingest: store object: %w", err)
	}
	return o, nil
}

// placement is where an instance goes: a subject's visit in a trial, and
// the submission that takes its uploads, or nil when none is open yet (the
// trial endpoint opens one once the instance has passed every check that
// needs no write, so a refused instance opens nothing).
type placement struct {
	sub                  *Submission
	site, subject, visit string
	tc                   *trialConfig // the version whose rules apply (sub's, or the newest approved)
}

// scope is the subject's visit.
func (pl placement) scope() db.Scope {
	return db.Scope{Trial: pl.tc.id, Site: pl.site, Subject: pl.subject, Visit: pl.visit}
}

// resolve decides the placement of an instance: the upload's submission,
// or, for the trial endpoint, the subject's visit that the instance's
// Clinical Trial Subject module tags name, at a site the uploader uploads
// for, with its open submission if there is one.
func (u *Upload) resolve(ctx context.Context, ds *dicom.Dataset) (placement, error) {
	if u.sub != nil {
		return placement{sub: u.sub, site: u.sub.Site, subject: u.sub.Subject, visit: u.sub.Visit, tc: u.tc}, nil
	}
	site, subject, visit := ds.String(dicom.ClinicalTrialSiteID), ds.String(dicom.ClinicalTrialSubjectID), ds.String(dicom.ClinicalTrialTimePointID)
	for _, m := range []struct{ v, name string }{
		{site, "(0012,0030) Clinical Trial Site ID"},
		{subject, "(0012,0040) Clinical Trial Subject ID"},
		{visit, "(0012,0050) Clinical Trial Time Point ID"},
	} {
		if m.v == "" {
			return placement{}, fail(FailDoesNotMatch, "%s is missing: the trial endpoint places instances by their Clinical Trial Subject module", m.name)
		}
	}
	if !u.p.Has(auth.SiteUploader, u.tc.id, site) {
		f := fail(FailNotAuthorized, "(0012,0030) names site %q, which you do not upload for", site)
		f.outcome = audit.Denied
		return placement{}, f
	}
	if err := u.tc.checkPlace(site, subject, visit); err != nil {
		return placement{}, fail(FailDoesNotMatch, "%s", trialgate.ErrorMessage(err))
	}
	pl := placement{site: site, subject: subject, visit: visit, tc: u.tc}
	sub, err := u.openFor(ctx, pl)
	switch {
	case isNoRows(err):
		return pl, nil
	case err != nil:
		return placement{}, err
	}
	if sub.TrialVersion != pl.tc.version {
		if pl.tc, err = u.s.trialVersion(ctx, sub.Trial, sub.TrialVersion); err != nil {
			return placement{}, err
		}
	}
	pl.sub = &sub
	return pl, nil
}

// openFor reads the open submission of a placement's subject's visit.
func (u *Upload) openFor(ctx context.Context, pl placement) (Submission, error) {
	var sub Submission
	err := u.s.db.Read(ctx, func(r *db.Reader) error {
		var err error
		sub, err = scanSubmission(r.QueryRow(ctx, selectOpenFor, pl.tc.id, pl.site, pl.subject, pl.visit))
		return err
	})
	if err != nil && !isNoRows(err) {
		return Submission{}, fmt.Errorf("ingest: find submission: %w", err)
	}
	return sub, err
}

// open returns the placement's submission, opening one for the subject's
// visit if none is open.
func (u *Upload) open(ctx context.Context, pl placement) (Submission, error) {
	if pl.sub != nil {
		return *pl.sub, nil
	}
	for range 2 {
		var sub Submission
		err := u.s.db.Write(ctx, u.p.Actor(auth.SiteUploader), pl.scope(), func(tx *db.Tx) error {
			var err error
			sub, err = u.s.openSubmission(ctx, tx, pl.tc, pl.site, pl.subject, pl.visit)
			return err
		})
		if err == nil {
			return sub, nil
		}
		if !errors.Is(err, db.ErrDuplicate) {
			return Submission{}, err
		}
		// Another upload opened it first: read it.
		switch sub, err = u.openFor(ctx, pl); {
		case err == nil:
			return sub, nil
		case !isNoRows(err):
			return Submission{}, err
		}
	}
	return Submission{}, trialgate.Errorf(trialgate.EConflict, "could not open a submission for the subject's visit; retry")
}
