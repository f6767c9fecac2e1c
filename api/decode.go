package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/engine/errs"
)

// bindJSON decodes the request body into v strictly: JSON content type,
// no unknown fields, right types, one value. Errors name the field and the
// rule, so a client can fix its request without reading our code.
func bindJSON(c *gin.Context, v any) error {
	if ct := c.GetHeader("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return &errs.Error{Kind: errs.KindUnsupportedType, Code: "unsupported_media_type",
				Message: "send the body as application/json"}
		}
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &errs.Error{Kind: errs.KindTooLarge, Code: "payload_too_large",
				Message: fmt.Sprintf("the body is larger than %d bytes", mbe.Limit)}
		}
		return errs.Invalid("", "malformed_json", "the body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return errs.Invalid("", "malformed_json", "a JSON body is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return errs.Invalid("", "malformed_json", "the body must hold exactly one JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errs.Invalid("", "malformed_json", "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errs.Invalid("", "wrong_type", "the body must be a JSON object")
		}
		return errs.Invalid(field, "wrong_type", "%s must be a %s, not %s", field, jsonType(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errs.Invalid("", "malformed_json", "the JSON body ends too early")
	// encoding/json has no typed error for unknown fields: its message is
	// the only signal, and it has been stable since DisallowUnknownFields came.
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errs.Invalid(field, "unknown_field", "unknown field %q", field)
	}
	// time.Time and other TextUnmarshalers report their own parse errors.
	return errs.Invalid("", "invalid_format", "%s", err.Error())
}

func jsonType(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "map", "struct":
		return "object"
	case "slice", "array":
		return "array"
	case "ptr":
		return "value of another type"
	}
	return "number"
}
