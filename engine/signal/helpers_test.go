package signal

import (
	"errors"
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
)

// recv is the receive time used by most tests.
var recv = time.Date(2025, 3, 2, 9, 15, 0, 0, time.UTC)

func opts() Options { return Options{ReceivedAt: recv} }

// view is the part of a Signal most tests compare.
type view struct {
	Source, Type, Event, Email                                           string
	UserID, AnonymousID, CRMID, MapID, ProductUserID, MktLeadID, GroupID string
	MessageID                                                            string
}

func viewOf(s *Signal) view {
	return view{
		Source: s.Source, Type: s.Type, Event: s.Event, Email: s.Email,
		UserID: s.UserID, AnonymousID: s.AnonymousID, CRMID: s.CRMID, MapID: s.MapID,
		ProductUserID: s.ProductUserID, MktLeadID: s.MktLeadID, GroupID: s.GroupID,
		MessageID: s.MessageID,
	}
}

func mustNormalize(t testing.TB, raw string, opt Options) *Signal {
	t.Helper()
	s, err := Normalize([]byte(raw), opt)
	if err != nil {
		t.Fatalf("Normalize(%s): %v", raw, err)
	}
	if s == nil {
		t.Fatalf("Normalize(%s): nil signal and nil error", raw)
	}
	return s
}

// wantErr checks that err is a *errs.Error with the given kind, code and
// field.
func wantErr(t testing.TB, err error, kind errs.Kind, code, field string) *errs.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s/%s field %q", kind, code, field)
	}
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not *errs.Error", err, err)
	}
	if e == nil {
		t.Fatalf("typed nil *errs.Error")
	}
	if e.Kind != kind || e.Code != code || e.Field != field {
		t.Fatalf("error = %s/%s field %q (%v), want %s/%s field %q", e.Kind, e.Code, e.Field, e, kind, code, field)
	}
	if e.Message == "" {
		t.Fatalf("error %s has no message", e.Code)
	}
	return e
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}
