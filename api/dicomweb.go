package api

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/ingest"
	"github.com/trialgate/trialgate/lock"
)

// DICOMweb (PS3.18): STOW-RS into a submission or a trial, and the trial's
// QC view (QIDO-RS, WADO-RS). Responses are DICOM JSON.

const (
	mediaDICOM     = "application/dicom"
	mediaDICOMJSON = "application/dicom+json"
)

// Attributes of the STOW-RS response (PS3.18 Table 10.5.3-1).
var (
	tagRetrieveURL        = dicom.NewTag(0x0008, 0x1190)
	tagFailedSOPSequence  = dicom.NewTag(0x0008, 0x1198)
	tagReferencedSOPSeq   = dicom.NewTag(0x0008, 0x1199)
	tagReferencedSOPClass = dicom.NewTag(0x0008, 0x1150)
	tagReferencedSOPInst  = dicom.NewTag(0x0008, 0x1155)
	tagFailureReason      = dicom.NewTag(0x0008, 0x1197)
	tagWarningReason      = dicom.NewTag(0x0008, 0x1196)
	tagErrorComment       = dicom.NewTag(0x0000, 0x0902)
)

// warningCoercion is the WarningReason of every stored instance: the
// stored object differs from the one sent, it was de-identified (PS3.18's
// "coercion of data elements").
const warningCoercion uint16 = 0xB000

func us(t dicom.Tag, v uint16) *dicom.Element {
	return &dicom.Element{Tag: t, VR: "US", Value: binary.LittleEndian.AppendUint16(nil, v)}
}

// stowBoundary returns the multipart boundary of a STOW-RS request, or
// refuses its media type: multipart/related with parts of
// application/dicom (the only representation accepted; metadata plus bulk
// data uploads are not).
func stowBoundary(contentType string) (string, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil || mt != "multipart/related":
		return "", trialgate.Errorf(trialgate.EMediaType, "Content-Type must be multipart/related; type=%q (got %q)", mediaDICOM, contentType)
	case params["boundary"] == "":
		return "", trialgate.Errorf(trialgate.EInvalid, "Content-Type multipart/related has no boundary parameter")
	case params["type"] != "" && !strings.EqualFold(params["type"], mediaDICOM):
		return "", trialgate.Errorf(trialgate.EMediaType, "multipart/related type %q is not supported: send %q parts", params["type"], mediaDICOM)
	}
	return params["boundary"], nil
}

// partMediaType returns the media type a part declares (that of the
// request's type parameter when it declares none).
func partMediaType(h textproto.MIMEHeader) string {
	ct := h.Get("Content-Type")
	if ct == "" {
		return mediaDICOM
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ct
	}
	return mt
}

// stowSubmission is POST /dicomweb/submissions/{id}/studies.
func (s *Server) stowSubmission(c *gin.Context) error {
	id, err := submissionID(c)
	if err != nil {
		return err
	}
	return s.stow(c, ingest.Target{Submission: id})
}

// stowTrial is POST /dicomweb/trials/{trial}/studies.
func (s *Server) stowTrial(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	return s.stow(c, ingest.Target{Trial: id})
}

// stow reads a multipart/related request part by part, as a stream, and
// passes each to the pipeline. Parts stored before a broken request stay
// stored (a retry is recognised as duplicates).
func (s *Server) stow(c *gin.Context, t ingest.Target) error {
	boundary, err := stowBoundary(c.GetHeader("Content-Type"))
	if err != nil {
		return err
	}
	if err := acceptJSON(c.GetHeader("Accept")); err != nil {
		return err
	}
	ctx := c.Request.Context()
	up, err := s.ingest.Begin(ctx, principal(c), t)
	if err != nil {
		return err
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.maxUpload)
	var receipts []ingest.Receipt
	err = readParts(body, boundary, func(n int, mediaType string, part io.Reader) error {
		var r ingest.Receipt
		var err error
		if !strings.EqualFold(mediaType, mediaDICOM) {
			r, err = up.Refuse(ctx, ingest.FailCannotUnderstand, fmt.Sprintf("part %d has Content-Type %q; want %q", n, mediaType, mediaDICOM))
		} else {
			r, err = up.Store(ctx, part)
		}
		if err != nil {
			return err
		}
		s.metrics.parts.WithLabelValues(partOutcome(r)).Inc()
		receipts = append(receipts, r)
		return nil
	})
	if err != nil {
		return uploadError(err, len(receipts)+1, len(receipts))
	}
	if len(receipts) == 0 {
		return trialgate.Errorf(trialgate.EInvalid, "the multipart/related body has no parts")
	}
	if err := allLocked(receipts); err != nil {
		return err
	}
	status, resp := stowResponse(receipts, s.publicBase(c))
	c.Header("Content-Type", mediaDICOMJSON)
	c.Status(status)
	return json.NewEncoder(c.Writer).Encode(resp)
}

// allLocked returns the lock's refusal when a lock refused every part:
// the whole request is then 423, naming the lock. With anything stored or
// refused for another reason, each refusal is one FailedSOPSequence item.
func allLocked(receipts []ingest.Receipt) error {
	for _, r := range receipts {
		if r.Locked == nil {
			return nil
		}
	}
	return receipts[0].Locked
}

// readParts reads a multipart/related body as a stream and calls fn with
// each part's number (from 1), media type and content. fn must consume
// what it needs before returning; the rest of the part is skipped.
func readParts(body io.Reader, boundary string, fn func(n int, mediaType string, part io.Reader) error) error {
	// multipart reads through a 4 KiB buffer of its own; a large one under
	// it turns a syscall per 4 KiB into one per 256 KiB.
	mr := multipart.NewReader(bufio.NewReaderSize(body, 256<<10), boundary)
	for n := 1; ; n++ {
		// Raw: a part's Content-Transfer-Encoding is not ours to undo.
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(n, partMediaType(part.Header), part)
		part.Close()
		if err != nil {
			return err
		}
	}
}

// partOutcome labels a receipt for the STOW metrics.
func partOutcome(r ingest.Receipt) (outcome, reason string) {
	switch st := r.Stored; {
	case st == nil:
		return "failed", fmt.Sprintf("%04X", r.Failure)
	case st.Duplicate:
		return "duplicate", ""
	case st.Held != "":
		return "held", ""
	}
	return "stored", ""
}

// uploadError classifies a failure to read the request: too large,
// malformed multipart, or (passed on) an outage.
func uploadError(err error, part, done int) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return trialgate.Wrap(err, trialgate.ETooLarge, fmt.Sprintf("the upload exceeds %d bytes (part %d; %d parts before it were processed)", tooLarge.Limit, part, done))
	case trialgate.ErrorCode(err) != trialgate.EInternal:
		return err
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "multipart"):
		return trialgate.Wrap(err, trialgate.EInvalid, fmt.Sprintf("malformed multipart/related body at part %d (%d parts before it were processed; retrying is safe)", part, done))
	}
	return err
}

// stowResponse builds the response data set and its status: 200 when
// every part was stored, 202 when some failed, 409 when none was stored.
// base is the server's absolute URL, for each instance's RetrieveURL.
func stowResponse(receipts []ingest.Receipt, base string) (int, *dicom.Dataset) {
	stored := &dicom.Element{Tag: tagReferencedSOPSeq, VR: "SQ"}
	failed := &dicom.Element{Tag: tagFailedSOPSequence, VR: "SQ"}
	for _, r := range receipts {
		item := &dicom.Dataset{}
		if st := r.Stored; st != nil {
			item.SetString(tagReferencedSOPClass, "UI", st.SOPClassUID)
			item.SetString(tagReferencedSOPInst, "UI", st.SOPInstanceUID)
			item.SetString(tagRetrieveURL, "UR", base+"/dicomweb/trials/"+st.Trial+"/studies/"+st.StudyInstanceUID+
				"/series/"+st.SeriesInstanceUID+"/instances/"+st.SOPInstanceUID)
			item.Set(us(tagWarningReason, warningCoercion))
			stored.Items = append(stored.Items, item)
			continue
		}
		item.Set(us(tagFailureReason, r.Failure))
		comment := r.Reason
		if l, ok := lock.Refused(r.Locked); ok {
			// An LO holds 64 characters: the lock's id is what names it.
			comment = "locked by " + l.ID
		}
		// A backslash would split the comment into values.
		item.SetString(tagErrorComment, "LO", strings.ReplaceAll(comment, `\`, "/"))
		if r.SOPClassUID != "" {
			item.SetString(tagReferencedSOPClass, "UI", r.SOPClassUID)
		}
		if r.SOPInstanceUID != "" {
			item.SetString(tagReferencedSOPInst, "UI", r.SOPInstanceUID)
		}
		failed.Items = append(failed.Items, item)
	}
	resp := &dicom.Dataset{}
	for _, seq := range []*dicom.Element{stored, failed} {
		if len(seq.Items) > 0 {
			resp.Set(seq)
		}
	}
	switch {
	case len(failed.Items) == 0:
		return http.StatusOK, resp
	case len(stored.Items) > 0:
		return http.StatusAccepted, resp
	}
	return http.StatusConflict, resp
}
