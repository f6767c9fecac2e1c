package tenant_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/trailspark/trailspark/engine/errs"
	"github.com/trailspark/trailspark/engine/tenant"
)

var allRoles = []tenant.Role{tenant.RoleOwner, tenant.RoleAdmin, tenant.RoleEditor, tenant.RoleViewer}

var allCaps = []tenant.Capability{
	tenant.CapRead, tenant.CapEditConfig, tenant.CapFeedback,
	tenant.CapIntegrations, tenant.CapManageOrg, tenant.CapOwnerOnly,
}

// specMatrix is SPEC §1's capability table, written out literally (not
// derived from the package's own table).
//
//	capability                                   Owner Admin Editor Viewer
//	read leads, accounts, ...                      ✓     ✓     ✓      ✓
//	edit configuration (rules, models, keys...)    ✓     ✓     ✓
//	submit feedback, run refinements               ✓     ✓     ✓
//	integrations, destinations, scoring settings   ✓     ✓
//	members, invitations, plan and billing         ✓     ✓
//	transfer ownership, delete the organization    ✓
var specMatrix = map[tenant.Capability]map[tenant.Role]bool{
	tenant.CapRead:         {tenant.RoleOwner: true, tenant.RoleAdmin: true, tenant.RoleEditor: true, tenant.RoleViewer: true},
	tenant.CapEditConfig:   {tenant.RoleOwner: true, tenant.RoleAdmin: true, tenant.RoleEditor: true, tenant.RoleViewer: false},
	tenant.CapFeedback:     {tenant.RoleOwner: true, tenant.RoleAdmin: true, tenant.RoleEditor: true, tenant.RoleViewer: false},
	tenant.CapIntegrations: {tenant.RoleOwner: true, tenant.RoleAdmin: true, tenant.RoleEditor: false, tenant.RoleViewer: false},
	tenant.CapManageOrg:    {tenant.RoleOwner: true, tenant.RoleAdmin: true, tenant.RoleEditor: false, tenant.RoleViewer: false},
	tenant.CapOwnerOnly:    {tenant.RoleOwner: true, tenant.RoleAdmin: false, tenant.RoleEditor: false, tenant.RoleViewer: false},
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   tenant.Role
		wantOK bool
	}{
		{"owner", tenant.RoleOwner, true},
		{"admin", tenant.RoleAdmin, true},
		{"editor", tenant.RoleEditor, true},
		{"viewer", tenant.RoleViewer, true},
		{"OWNER", tenant.RoleOwner, true},
		{"Admin", tenant.RoleAdmin, true},
		{"eDiToR", tenant.RoleEditor, true},
		{"  Viewer\t", tenant.RoleViewer, true},
		{"", "", false},
		{"   ", "", false},
		{"superuser", "", false},
		{"admins", "", false},
		{"view", "", false},
		{"owner!", "", false},
		{"ad min", "", false},
		{"1", "", false},
		{"viewér", "", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			t.Parallel()
			got, ok := tenant.ParseRole(tc.in)
			if ok != tc.wantOK {
				t.Fatalf("ParseRole(%q) ok = %v, want %v", tc.in, ok, tc.wantOK)
			}
			if ok && got != tc.want {
				t.Fatalf("ParseRole(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRoleAtLeast(t *testing.T) {
	t.Parallel()
	// want[r][min]: Owner > Admin > Editor > Viewer.
	want := map[tenant.Role]map[tenant.Role]bool{
		tenant.RoleOwner:  {tenant.RoleOwner: true, tenant.RoleAdmin: true, tenant.RoleEditor: true, tenant.RoleViewer: true},
		tenant.RoleAdmin:  {tenant.RoleOwner: false, tenant.RoleAdmin: true, tenant.RoleEditor: true, tenant.RoleViewer: true},
		tenant.RoleEditor: {tenant.RoleOwner: false, tenant.RoleAdmin: false, tenant.RoleEditor: true, tenant.RoleViewer: true},
		tenant.RoleViewer: {tenant.RoleOwner: false, tenant.RoleAdmin: false, tenant.RoleEditor: false, tenant.RoleViewer: true},
	}
	for _, r := range allRoles {
		for _, min := range allRoles {
			t.Run(fmt.Sprintf("%s>=%s", r, min), func(t *testing.T) {
				t.Parallel()
				if got := r.AtLeast(min); got != want[r][min] {
					t.Fatalf("%s.AtLeast(%s) = %v, want %v", r, min, got, want[r][min])
				}
			})
		}
	}
	t.Run("unknown role includes nothing", func(t *testing.T) {
		t.Parallel()
		for _, bad := range []tenant.Role{"", "superuser", "OWNER"} {
			for _, min := range allRoles {
				if bad.AtLeast(min) {
					t.Errorf("%q.AtLeast(%s) = true, want false", bad, min)
				}
			}
		}
	})
}

func TestRoleCanMatchesSpecMatrix(t *testing.T) {
	t.Parallel()
	if len(specMatrix) != len(allCaps) {
		t.Fatalf("spec matrix has %d rows, want %d", len(specMatrix), len(allCaps))
	}
	for _, c := range allCaps {
		for _, r := range allRoles {
			want, ok := specMatrix[c][r]
			if !ok {
				t.Fatalf("spec matrix misses %s × %s", c, r)
			}
			t.Run(fmt.Sprintf("%s/%s", r, c), func(t *testing.T) {
				t.Parallel()
				if got := r.Can(c); got != want {
					t.Fatalf("%s.Can(%s) = %v, want %v (SPEC §1)", r, c, got, want)
				}
			})
		}
	}
}

func TestRoleCanUnknown(t *testing.T) {
	t.Parallel()
	for _, r := range allRoles {
		if r.Can("launch_missiles") || r.Can("") {
			t.Errorf("%s can use an unknown capability", r)
		}
	}
	for _, c := range allCaps {
		for _, r := range []tenant.Role{"", "root", "Owner"} {
			if r.Can(c) {
				t.Errorf("unknown role %q can %s", r, c)
			}
		}
	}
}

func TestMinRole(t *testing.T) {
	t.Parallel()
	want := map[tenant.Capability]tenant.Role{
		tenant.CapRead:         tenant.RoleViewer,
		tenant.CapEditConfig:   tenant.RoleEditor,
		tenant.CapFeedback:     tenant.RoleEditor,
		tenant.CapIntegrations: tenant.RoleAdmin,
		tenant.CapManageOrg:    tenant.RoleAdmin,
		tenant.CapOwnerOnly:    tenant.RoleOwner,
	}
	for c, r := range want {
		if got := tenant.MinRole(c); got != r {
			t.Errorf("MinRole(%s) = %s, want %s", c, got, r)
		}
	}
}

func TestAuthorize(t *testing.T) {
	t.Parallel()
	build := func() *tenant.State {
		return newState(t, map[string]tenant.Role{
			"admin":  tenant.RoleAdmin,
			"editor": tenant.RoleEditor,
			"viewer": tenant.RoleViewer,
		})
	}
	userFor := map[tenant.Role]string{
		tenant.RoleOwner: "owner", tenant.RoleAdmin: "admin",
		tenant.RoleEditor: "editor", tenant.RoleViewer: "viewer",
	}

	for _, c := range allCaps {
		for _, r := range allRoles {
			want := specMatrix[c][r]
			t.Run(fmt.Sprintf("member %s/%s", r, c), func(t *testing.T) {
				t.Parallel()
				err := tenant.Authorize(build(), tenant.Caller{UserID: userFor[r]}, c)
				if want {
					wantNoErr(t, err)
					return
				}
				wantErr(t, err, errs.KindForbidden, "forbidden", "")
			})
		}
		t.Run(fmt.Sprintf("operator/%s", c), func(t *testing.T) {
			t.Parallel()
			wantNoErr(t, tenant.Authorize(build(), tenant.Caller{Operator: true}, c))
		})
		t.Run(fmt.Sprintf("operator with a user id/%s", c), func(t *testing.T) {
			t.Parallel()
			wantNoErr(t, tenant.Authorize(build(), tenant.Caller{UserID: "stranger", Operator: true}, c))
		})
		t.Run(fmt.Sprintf("non-member/%s", c), func(t *testing.T) {
			t.Parallel()
			err := tenant.Authorize(build(), tenant.Caller{UserID: "stranger"}, c)
			wantErr(t, err, errs.KindNotFound, "organization_not_found", "")
		})
		t.Run(fmt.Sprintf("empty caller/%s", c), func(t *testing.T) {
			t.Parallel()
			err := tenant.Authorize(build(), tenant.Caller{}, c)
			wantErr(t, err, errs.KindNotFound, "organization_not_found", "")
		})
	}

	deletedCases := []struct {
		name   string
		caller tenant.Caller
	}{
		{"owner", tenant.Caller{UserID: "owner"}},
		{"viewer", tenant.Caller{UserID: "viewer"}},
		{"stranger", tenant.Caller{UserID: "stranger"}},
		{"operator", tenant.Caller{Operator: true}},
	}
	for _, tc := range deletedCases {
		t.Run("deleted org/"+tc.name, func(t *testing.T) {
			t.Parallel()
			s := build()
			s.Deleted = true
			wantErr(t, tenant.Authorize(s, tc.caller, tenant.CapRead), errs.KindNotFound, "organization_not_found", "")
		})
	}
	t.Run("nil state", func(t *testing.T) {
		t.Parallel()
		wantErr(t, tenant.Authorize(nil, tenant.Caller{Operator: true}, tenant.CapRead),
			errs.KindNotFound, "organization_not_found", "")
	})
	t.Run("forbidden message names the needed role", func(t *testing.T) {
		t.Parallel()
		err := tenant.Authorize(build(), tenant.Caller{UserID: "editor"}, tenant.CapManageOrg)
		e := errs.As(err)
		if e == nil || e.Message == "" {
			t.Fatalf("want a forbidden error with a message, got %v", err)
		}
		if want := "admin"; !strings.Contains(e.Message, want) {
			t.Errorf("message %q does not name role %q", e.Message, want)
		}
	})
}
