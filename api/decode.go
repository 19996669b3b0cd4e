package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trialgate/trialgate"
)

// decodeJSON reads the request body as exactly one JSON object into v,
// refusing the wrong media type, bodies over the limit, malformed JSON,
// unknown fields and trailing data, each with a message naming the problem.
func (s *Server) decodeJSON(c *gin.Context, v any) error {
	mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || mt != "application/json" {
		return trialgate.Errorf(trialgate.EMediaType, "Content-Type must be application/json")
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err, s.maxBody)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return jsonError(err, s.maxBody)
		}
		return trialgate.Errorf(trialgate.EInvalid, "request body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error, limit int64) error {
	var tooBig *http.MaxBytesError
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		return trialgate.Errorf(trialgate.ETooLarge, "request body exceeds %d bytes", limit)
	case errors.Is(err, io.EOF):
		return trialgate.Errorf(trialgate.EInvalid, "request body is empty; expected a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return trialgate.Errorf(trialgate.EInvalid, "request body is truncated JSON")
	case errors.As(err, &syntax):
		return trialgate.Errorf(trialgate.EInvalid, "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return trialgate.Errorf(trialgate.EInvalid, "request body must be a JSON object, not %s", typ.Value)
		}
		return trialgate.Errorf(trialgate.EInvalid, "field %q must be %s, not %s", typ.Field, jsonType(typ.Type.Kind().String()), typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return trialgate.Errorf(trialgate.EInvalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return trialgate.Wrap(err, trialgate.EInvalid, fmt.Sprintf("invalid JSON request body"))
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}
