package tenant_test

import (
	"testing"
	"time"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/errs/errstest"
	"github.com/trailspark/trailspark/engine/tenant"
)

// t0 is the fixed "now" every test starts from; no test reads the wall clock.
var t0 = time.Date(2025, time.March, 10, 9, 30, 0, 0, time.UTC)

// wantErr asserts err is an *errs.Error with the given kind, code and field.
func wantErr(t *testing.T, err error, kind errs.Kind, code, field string) {
	t.Helper()
	errstest.Want(t, err, kind, code, field)
}

// wantNoErr asserts err is nil, catching typed-nil *errs.Error values.
func wantNoErr(t *testing.T, err error) {
	t.Helper()
	errstest.NoErr(t, err)
}

// wantSubErr is wantErr for functions returning *errs.Error directly.
func wantSubErr(t *testing.T, e *errs.Error, kind errs.Kind, code, field string) {
	t.Helper()
	if e == nil {
		t.Fatalf("got nil, want %s/%s (field %q)", kind, code, field)
	}
	wantErr(t, e, kind, code, field)
}

func ptr[T any](v T) *T { return &v }

func testOrg() tenant.Org {
	return tenant.Org{
		ID:        "org_1",
		Name:      "Acme Corp",
		Subdomain: "acme-corp",
		Size:      "11-50",
		Industry:  "Technology",
		Plan:      tenant.DefaultPlan,
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

func member(id string) tenant.Member {
	return tenant.Member{
		UserID:      id,
		Name:        "User " + id,
		EmailIndex:  "idx-" + id,
		EmailSealed: "sealed-" + id,
	}
}

// newState builds an org owned by "owner" with the extra members given as
// userID → role, all joined at t0.
func newState(t *testing.T, extra map[string]tenant.Role) *tenant.State {
	t.Helper()
	s := tenant.NewState(testOrg(), member("owner"))
	for id, r := range extra {
		m := member(id)
		m.Role = r
		m.JoinedAt = t0
		s.Members[id] = &m
	}
	return s
}

// countOwners counts members with the Owner role.
func countOwners(s *tenant.State) int {
	n := 0
	for _, m := range s.Members {
		if m.Role == tenant.RoleOwner {
			n++
		}
	}
	return n
}
