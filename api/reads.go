package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/reads"
)

// Blinded reads: a data manager assigns the readable cases; readers and
// adjudicators see their own tasks (blinded), save drafts and sign them;
// the results are released, exported and compared by the sponsor's roles.

// taskID returns the read task a path names (param "id" or, in the
// reader's DICOMweb view, "task"), refusing a malformed one: it must never
// reach a query. That an id is malformed reveals nothing of the tasks.
func taskID(c *gin.Context) (string, error) {
	param := "id"
	id := c.Param(param)
	if id == "" {
		param = "task"
		id = c.Param(param)
	}
	if !trialgate.ValidID(id) {
		return "", trialgate.Errorf(trialgate.EInvalid, "path parameter %s: not a valid read task id", param)
	}
	return id, nil
}

type assignRequest struct {
	Seed string `json:"seed"`
}

// assignReads is POST /api/v1/trials/{trial}/read-assignments.
func (s *Server) assignReads(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	var req assignRequest
	if c.Request.ContentLength != 0 {
		if err := s.decodeJSON(c, &req); err != nil {
			return err
		}
	}
	run, err := s.reads.Assign(c.Request.Context(), principal(c), id, req.Seed)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, run)
	return nil
}

// trialReadTasks is GET /api/v1/trials/{trial}/read-tasks: the data
// manager's overview, without results.
func (s *Server) trialReadTasks(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	tasks, err := s.reads.TrialTasks(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"tasks": tasks})
	return nil
}

type reassignRequest struct {
	Reader string `json:"reader"`
	Reason string `json:"reason"`
}

// reassignTask is POST /api/v1/read-tasks/{id}/reassign.
func (s *Server) reassignTask(c *gin.Context) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	var req reassignRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := s.reads.Reassign(c.Request.Context(), principal(c), id, req.Reader, req.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

// readTasks is GET /api/v1/read-tasks: the caller's own tasks, blinded.
func (s *Server) readTasks(c *gin.Context) error {
	tasks, err := s.reads.Tasks(c.Request.Context(), principal(c))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"tasks": tasks})
	return nil
}

// readTask is GET /api/v1/read-tasks/{id}.
func (s *Server) readTask(c *gin.Context) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	t, err := s.reads.Task(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

// saveResult is PUT /api/v1/read-tasks/{id}/result. Numbers are decoded
// exactly (json.Number), so the form decides whether 12.0 is an integer.
func (s *Server) saveResult(c *gin.Context) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := s.decodeJSON(c, &raw); err != nil {
		return err
	}
	var in reads.ResultInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return jsonError(err, s.maxBody)
	}
	t, err := s.reads.SaveResult(c.Request.Context(), principal(c), id, in)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

type signRequest struct {
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
}

// signTask is POST /api/v1/read-tasks/{id}/sign.
func (s *Server) signTask(c *gin.Context) error {
	id, err := taskID(c)
	if err != nil {
		return err
	}
	var req signRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	t, err := s.reads.Sign(c.Request.Context(), principal(c), id, req.Password, req.Meaning)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, t)
	return nil
}

type releaseRequest struct {
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
	Reason   string `json:"reason"`
}

// releaseReads is POST /api/v1/trials/{trial}/reads/release.
func (s *Server) releaseReads(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	var req releaseRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	rel, err := s.reads.Release(c.Request.Context(), principal(c), id, req.Password, req.Meaning, req.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, rel)
	return nil
}

// exportReads is GET /api/v1/trials/{trial}/reads?format=json|csv|jsonl:
// every version of every read, streamed.
func (s *Server) exportReads(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c.Request.URL.Query(), []string{"format"}, nil); err != nil {
		return err
	}
	format := c.DefaultQuery("format", reads.FormatJSON)
	types := map[string]string{reads.FormatJSON: "application/json", reads.FormatJSONL: "application/x-ndjson",
		reads.FormatCSV: "text/csv; charset=utf-8"}
	ct, ok := types[format]
	if !ok {
		return trialgate.Errorf(trialgate.EInvalid, "format: %q must be one of json, jsonl, csv", format)
	}
	w := &lazyWriter{c: c, contentType: ct, filename: "reads-" + id + "." + format}
	return s.reads.Export(c.Request.Context(), principal(c), id, format, w)
}

// readOutcomes is GET /api/v1/trials/{trial}/reads/outcomes.
func (s *Server) readOutcomes(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	out, err := s.reads.Outcomes(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"cases": out})
	return nil
}

// readAgreement is GET /api/v1/trials/{trial}/reads/agreement?format=json|csv.
func (s *Server) readAgreement(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	if err := checkQuery(c.Request.URL.Query(), []string{"format"}, nil); err != nil {
		return err
	}
	format := c.DefaultQuery("format", reads.FormatJSON)
	if format != reads.FormatJSON && format != reads.FormatCSV {
		return trialgate.Errorf(trialgate.EInvalid, "format: %q must be one of json, csv", format)
	}
	rep, err := s.reads.Agreement(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	if format == reads.FormatCSV {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Header("Content-Disposition", `attachment; filename="agreement-`+id+`.csv"`)
		c.Status(http.StatusOK)
		return rep.WriteCSV(c.Writer)
	}
	c.JSON(http.StatusOK, rep)
	return nil
}

// lazyWriter sets the headers of a streamed download on its first write,
// so that an error before any byte still gets its proper status.
type lazyWriter struct {
	c           *gin.Context
	contentType string
	filename    string
	started     bool
}

func (w *lazyWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		w.c.Header("Content-Type", w.contentType)
		w.c.Header("Content-Disposition", `attachment; filename="`+w.filename+`"`)
		w.c.Status(http.StatusOK)
	}
	return w.c.Writer.Write(p)
}
