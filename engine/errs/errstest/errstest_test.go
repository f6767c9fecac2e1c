package errstest

import (
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
)

func TestWantMatches(t *testing.T) {
	t.Parallel()
	e := Want(t, errs.Invalid("name", "required", "name is required"), errs.KindInvalid, "required", "name")
	if e.Field != "name" {
		t.Fatalf("returned %+v", e)
	}
	NoErr(t, nil)
}
