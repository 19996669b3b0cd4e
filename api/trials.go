package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
	"github.com/trialgate/trialgate/trial"
)

// The trial definition endpoints. trial.Service decides who may do what:
// only a data manager of the trial defines, changes and approves it (the
// administrator manages accounts and grants, never trial data); anyone
// taking part in the trial reads it.

// signatureJSON is the manifestation of an approval signature (21 CFR
// 11.50): printed name, time and meaning, with the signer's id, the signed
// record's SHA-256 and whether it still verifies against the stored bytes.
type signatureJSON struct {
	Signer         string `json:"signer"`
	Name           string `json:"name"`
	Time           string `json:"time"`
	Meaning        string `json:"meaning"`
	RecordSHA256   string `json:"record_sha256"`
	SignatureValid bool   `json:"signature_valid"`
	Problem        string `json:"problem,omitempty"`
}

// versionJSON is one version of a trial definition.
type versionJSON struct {
	Trial      string          `json:"trial"`
	Version    int             `json:"version"`
	SHA256     string          `json:"sha256"`
	CreatedAt  time.Time       `json:"created_at"`
	CreatedBy  string          `json:"created_by"`
	AuthorName string          `json:"author_name"`
	Reason     string          `json:"reason,omitempty"`
	Approval   *signatureJSON  `json:"approval"`
	Definition json.RawMessage `json:"definition,omitempty"`
}

func versionOf(v trial.Version, withDefinition bool) versionJSON {
	out := versionJSON{Trial: v.Trial, Version: v.Version, SHA256: v.SHA256, CreatedAt: v.Created,
		CreatedBy: v.CreatedBy, AuthorName: v.AuthorName, Reason: v.Reason}
	if withDefinition {
		if json.Valid(v.Definition) {
			out.Definition = v.Definition
		} else {
			// Damaged bytes are not passed on as JSON; the signature
			// check below reports the damage.
			out.Definition, _ = json.Marshal(string(v.Definition))
		}
	}
	if a := v.Approval; a != nil {
		out.Approval = &signatureJSON{Signer: a.Signature.Signer, Name: a.Signature.Name, Time: a.Signature.Time,
			Meaning: a.Signature.Meaning, RecordSHA256: a.Signature.RecordSHA256, SignatureValid: a.Valid == nil}
		if a.Valid != nil {
			out.Approval.Problem = trialgate.ErrorMessage(a.Valid)
		}
	}
	return out
}

// trialParam returns the trial id of the path, or "" when it is not a
// valid id (it then names no trial's audit chain).
func trialParam(c *gin.Context) string {
	id := c.Param("trial")
	if !trial.ValidID(id) {
		return ""
	}
	return id
}

// trialID returns the trial id of the path, or a trialgate.EInvalid error
// naming the parameter when it is not a valid id: such a value reaches no
// query, names no chain and is not echoed back.
func trialID(c *gin.Context) (string, error) {
	id := trialParam(c)
	if id == "" {
		return "", errInvalidTrialID("path parameter trial")
	}
	return id, nil
}

// errInvalidTrialID is the refusal of a malformed trial id in the named
// parameter.
func errInvalidTrialID(param string) error {
	return trialgate.Errorf(trialgate.EInvalid, "%s: not a valid trial id (1-%d of A-Z a-z 0-9 . _ -, not . or ..)",
		param, trialgate.MaxIDLen)
}

// createTrial defines a new trial: POST /api/v1/trials with the definition
// as the body.
func (s *Server) createTrial(c *gin.Context) error {
	var raw json.RawMessage
	if err := s.decodeJSON(c, &raw); err != nil {
		return err
	}
	v, err := s.trials.Create(c.Request.Context(), principal(c), raw)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, versionOf(v, true))
	return nil
}

// changeRequest is the body of PUT /api/v1/trials/{trial}.
type changeRequest struct {
	Definition json.RawMessage `json:"definition"`
	Reason     string          `json:"reason"`
}

// changeTrial records a new version of a definition.
func (s *Server) changeTrial(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	var req changeRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.trials.Change(c.Request.Context(), principal(c), id, req.Definition, req.Reason)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, versionOf(v, true))
	return nil
}

// getTrial returns a trial's current version (with its definition) and
// the list of all versions.
func (s *Server) getTrial(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	t, err := s.trials.Get(c.Request.Context(), principal(c), id)
	if err != nil {
		return err
	}
	versions := make([]versionJSON, 0, len(t.Versions))
	for _, v := range t.Versions {
		versions = append(versions, versionOf(v, false))
	}
	c.JSON(http.StatusOK, gin.H{"id": t.ID, "name": t.Name, "current_version": t.Current.Version,
		"current": versionOf(t.Current, true), "versions": versions})
	return nil
}

// versionParam reads the version number of the path.
func versionParam(c *gin.Context) (int, error) {
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil || n < 1 {
		return 0, trialgate.Errorf(trialgate.EInvalid, "path parameter n: the version must be a positive integer")
	}
	return n, nil
}

// getVersion returns one version with its definition.
func (s *Server) getVersion(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	v, err := s.trials.Version(c.Request.Context(), principal(c), id, n)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, versionOf(v, true))
	return nil
}

// approveRequest is the body of an approval: the password, re-entered, and
// the meaning, which must be "approval".
type approveRequest struct {
	Password string `json:"password"`
	Meaning  string `json:"meaning"`
}

// approveVersion approves a version by electronic signature.
func (s *Server) approveVersion(c *gin.Context) error {
	id, err := trialID(c)
	if err != nil {
		return err
	}
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	var req approveRequest
	if err := s.decodeJSON(c, &req); err != nil {
		return err
	}
	v, err := s.trials.Approve(c.Request.Context(), principal(c), id, n, req.Password, req.Meaning)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, versionOf(v, true))
	return nil
}
