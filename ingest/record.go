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
		original_size, original_key, object_sha256, object_size, status, hold_reason, metadata, received_us, received_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)`
	selectByOriginal = `SELECT i.sop_uid, i.sop_class_uid, i.study_uid, i.series_uid, i.submission_id, i.status, i.hold_reason, s.site
		FROM instances i JOIN submissions s ON s.id = i.submission_id WHERE i.trial_id = $1 AND i.original_sha256 = $2`
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
		in.metadata, now.UnixMicro(), tx.Actor().ID); err != nil {
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

// place decides the submission of an instance: the upload's own, or, for
// the trial endpoint, the open submission of the subject's visit that the
// instance's Clinical Trial Subject module tags name (opened if none is).
func (u *Upload) place(ctx context.Context, ds *dicom.Dataset) (Submission, error) {
	if u.sub != nil {
		return *u.sub, nil
	}
	site, subject, visit := ds.String(dicom.ClinicalTrialSiteID), ds.String(dicom.ClinicalTrialSubjectID), ds.String(dicom.ClinicalTrialTimePointID)
	for _, m := range []struct{ v, name string }{
		{site, "(0012,0030) Clinical Trial Site ID"},
		{subject, "(0012,0040) Clinical Trial Subject ID"},
		{visit, "(0012,0050) Clinical Trial Time Point ID"},
	} {
		if m.v == "" {
			return Submission{}, fail(FailDoesNotMatch, "%s is missing: the trial endpoint places instances by their Clinical Trial Subject module", m.name)
		}
	}
	if !u.p.Has(auth.SiteUploader, u.tc.id, site) {
		f := fail(FailNotAuthorized, "(0012,0030) names site %q, which you do not upload for", site)
		f.outcome = audit.Denied
		return Submission{}, f
	}
	if err := u.tc.checkPlace(site, subject, visit); err != nil {
		return Submission{}, fail(FailDoesNotMatch, "%s", trialgate.ErrorMessage(err))
	}
	for range 2 {
		var sub Submission
		err := u.s.db.Read(ctx, func(r *db.Reader) error {
			var err error
			sub, err = scanSubmission(r.QueryRow(ctx, selectOpenFor, u.tc.id, site, subject, visit))
			return err
		})
		switch {
		case err == nil:
			return sub, nil
		case !isNoRows(err):
			return Submission{}, fmt.Errorf("ingest: find submission: %w", err)
		}
		scope := db.Scope{Trial: u.tc.id, Site: site, Subject: subject, Visit: visit}
		err = u.s.db.Write(ctx, u.p.Actor(auth.SiteUploader), scope, func(tx *db.Tx) error {
			sub, err = u.s.openSubmission(ctx, tx, u.tc, site, subject, visit)
			return err
		})
		if err == nil {
			return sub, nil
		}
		if !errors.Is(err, db.ErrDuplicate) {
			return Submission{}, err
		}
		// Another upload opened it first: read it.
	}
	return Submission{}, trialgate.Errorf(trialgate.EConflict, "could not open a submission for the subject's visit; retry")
}

// duplicate returns the stored instance when these exact bytes were
// received before in the trial, recording the repeat (instance.duplicate,
// with the submission it came for, if known) and changing nothing else;
// nil when they are new.
func (u *Upload) duplicate(ctx context.Context, trialID, receivedFor string, sp *spooled) (*Stored, error) {
	st := &Stored{Trial: trialID, Duplicate: true}
	var status, site string
	err := u.s.db.Read(ctx, func(r *db.Reader) error {
		return r.QueryRow(ctx, selectByOriginal, trialID, sp.sha256).Scan(&st.SOPInstanceUID, &st.SOPClassUID,
			&st.StudyInstanceUID, &st.SeriesInstanceUID, &st.Submission, &status, &st.Held, &site)
	})
	switch {
	case isNoRows(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("ingest: look up original: %w", err)
	}
	if status != "held" {
		st.Held = ""
	}
	if receivedFor == "" {
		receivedFor = st.Submission
	}
	err = u.s.db.Record(ctx, u.p.Actor(auth.SiteUploader), db.Scope{Trial: trialID, Site: site}, audit.Event{Action: audit.ActionInstanceDuplicate,
		Object: audit.Object{Type: "instance", ID: st.SOPInstanceUID},
		After: map[string]any{"original_sha256": sp.sha256, "original_size": sp.size, "stored_in": st.Submission,
			"received_for": receivedFor}})
	if err != nil {
		return nil, err
	}
	return st, nil
}
