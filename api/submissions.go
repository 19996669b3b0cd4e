package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/dicom"
	"github.com/trialgate/trialgate/ingest"
)

// Submissions: a site opens one per subject's visit, uploads into it by
// STOW-RS, completes it (series and visit QC run), and a QC reviewer
// accepts, rejects or queries it back to the site.

type submissionRequest struct {
	Site    string `json:"site"`
	Subject string `json:"subject"`
	Visit   string `json:"visit"`
}

// submissionJSON is a submission as the API shows it.
type submissionJSON struct {
	ID           string            `json:"id"`
	Trial        string            `json:"trial"`
	TrialVersion int               `json:"trial_version"`
	Site         string            `json:"site"`
	Subject      string            `json:"subject"`
	Visit        string            `json:"visit"`
	Status       string            `json:"status"`
	QCRuns       int               `json:"qc_runs"`
	QCOutcome    string            `json:"qc_outcome,omitempty"`
	Reason       string            `json:"decision_reason,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
	StowURL      string            `json:"stow_url"`
	Instances    []ingest.Instance `json:"instances"`
	QC           []ingest.QCResult `json:"qc"`
}

func submissionOf(v ingest.View) submissionJSON {
	out := submissionJSON{ID: v.ID, Trial: v.Trial, TrialVersion: v.TrialVersion, Site: v.Site, Subject: v.Subject,
		Visit: v.Visit, Status: v.Status, QCRuns: v.QCRun, Reason: v.Reason, CreatedAt: v.Created, UpdatedAt: v.Updated,
		StowURL: "/dicomweb/submissions/" + v.ID + "/studies", Instances: v.Instances, QC: v.QC}
	if out.Instances == nil {
		out.Instances = []ingest.Instance{}
	}
	if out.QC == nil {
		out.QC = []ingest.QCResult{}
	}
	if len(v.QC) > 0 {
		out.QCOutcome = string(ingest.WorstOf(v.QC))
	}
	return out
}

// createSubmission is POST /api/v1/trials/{trial}/submissions.
func (s *Server) createSubmission(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	var req submissionRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request.Context()
	sub, err := s.ingest.CreateSubmission(ctx, principal(c), id, req.Site, req.Subject, req.Visit)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, submissionOf(ingest.View{Submission: sub}))
	return nil
}

// submissionID returns the submission a path names, refusing a malformed
// id: it must never reach a query.
func submissionID(c *gin.Context) (string, error) {
	id := c.Param("id")
	if !trialgate.ValidID(id) {
		return "", trialgate.Errorf(trialgate.EInvalid, "path parameter id: not a valid submission id")
	}
	return id, nil
}

// getSubmission is GET /api/v1/submissions/{id}.
func (s *Server) getSubmission(c *gin.Context) error {
	id, err := submissionID(c)
	if err != nil {
		return err
	}
	v, err := s.ingest.Submission(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, submissionOf(v))
	return nil
}

// completeSubmission is POST /api/v1/submissions/{id}/complete.
func (s *Server) completeSubmission(c *gin.Context) error {
	id, err := submissionID(c)
	if err != nil {
		return err
	}
	v, err := s.ingest.Complete(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, submissionOf(v))
	return nil
}

type decisionRequest struct {
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
}

// decideSubmission is POST /api/v1/submissions/{id}/qc-decision.
func (s *Server) decideSubmission(c *gin.Context) error {
	id, err := submissionID(c)
	if err != nil {
		return err
	}
	var req decisionRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.ingest.Decide(c.Request.Context(), principal(c), id, req.Decision, req.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, submissionOf(v))
	return nil
}

// reviewInstance is POST /api/v1/submissions/{id}/instances/{sop}/review:
// a QC reviewer releases or rejects an instance held for burned-in text
// review.
func (s *Server) reviewInstance(c *gin.Context) error {
	id, err := submissionID(c)
	if err != nil {
		return err
	}
	if !dicom.ValidUID(c.Param("sop")) {
		return trialgate.Errorf(trialgate.EInvalid, "path parameter sop: not a valid UID")
	}
	var req decisionRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.ingest.Review(c.Request.Context(), principal(c), id, c.Param("sop"), req.Decision, req.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, submissionOf(v))
	return nil
}
