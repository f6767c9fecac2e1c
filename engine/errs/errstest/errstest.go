// Package errstest asserts user-facing errors in tests: kind, code and
// field, the three things a client acts on.
package errstest

import (
	"errors"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

// Want fails t unless err is an *errs.Error with the given kind, code and
// field and a non-empty message.
func Want(t testing.TB, err error, kind errs.Kind, code, field string) *errs.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s/%s (field %q)", kind, code, field)
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
	}
	if e == nil {
		t.Fatalf("error is a typed nil *errs.Error, want %s/%s (field %q)", kind, code, field)
	}
	if e.Kind != kind || e.Code != code || e.Field != field {
		t.Fatalf("got kind=%s code=%s field=%q (%v), want kind=%s code=%s field=%q",
			e.Kind, e.Code, e.Field, e.Message, kind, code, field)
	}
	if e.Message == "" {
		t.Errorf("error %s has an empty message", e.Code)
	}
	return e
}

// NoErr fails t if err is non-nil, including a typed-nil *errs.Error held
// in a non-nil error interface (the trap of returning a nil *errs.Error
// from a function whose result type is error).
func NoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v (%T)", err, err)
	}
}
