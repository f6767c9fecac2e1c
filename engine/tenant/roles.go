// Package tenant is the organization domain: the organization profile and its
// validation, members and their roles, invitations, and API key records. It is
// pure: callers pass time and pre-generated ids/hashes, so every rule here is
// testable without clocks, randomness or storage.
package tenant

import (
	"fmt"
	"strings"

	"github.com/trailspark/trailspark/engine/errs"
)

// Role is a member's role in one organization. Roles inherit downwards.
type Role string

const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleEditor Role = "editor"
	RoleViewer Role = "viewer"
)

// rank orders roles; a higher rank includes every capability of a lower one.
var rank = map[Role]int{RoleViewer: 1, RoleEditor: 2, RoleAdmin: 3, RoleOwner: 4}

// ParseRole accepts a role name in any case.
func ParseRole(s string) (Role, bool) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	_, ok := rank[r]
	return r, ok
}

// AtLeast reports whether r includes min.
func (r Role) AtLeast(min Role) bool { return rank[r] >= rank[min] && rank[r] > 0 }

// Capability is something a request may need. The matrix below is the one
// place SPEC §1's role table lives; the API and grains ask it, nothing else.
type Capability string

const (
	CapRead         Capability = "read"         // leads, accounts, signals, evaluations, dashboards, members
	CapEditConfig   Capability = "edit_config"  // mapping rules, ICP models, evaluation rules, field mapping, API keys
	CapFeedback     Capability = "feedback"     // submit feedback, run refinements
	CapIntegrations Capability = "integrations" // connect integrations, destinations, scoring settings
	CapManageOrg    Capability = "manage_org"   // members, invitations, plan and billing, org profile
	CapOwnerOnly    Capability = "owner"        // transfer ownership, delete the organization
)

// minRole is SPEC §1's capability table.
var minRole = map[Capability]Role{
	CapRead:         RoleViewer,
	CapEditConfig:   RoleEditor,
	CapFeedback:     RoleEditor,
	CapIntegrations: RoleAdmin,
	CapManageOrg:    RoleAdmin,
	CapOwnerOnly:    RoleOwner,
}

// MinRole returns the least role holding c.
func MinRole(c Capability) Role { return minRole[c] }

// Can reports whether r holds capability c.
func (r Role) Can(c Capability) bool {
	min, ok := minRole[c]
	return ok && r.AtLeast(min)
}

// Caller is who makes a request: a signed-in user or the operator.
type Caller struct {
	UserID   string
	Operator bool
}

// Authorize decides whether caller may use capability c on an organization
// whose state is s. Non-members get not-found (existence must not leak);
// members without the role get forbidden.
func Authorize(s *State, caller Caller, c Capability) error {
	if s == nil || s.Deleted {
		return errs.NotFound("organization")
	}
	if caller.Operator {
		return nil
	}
	m, ok := s.Members[caller.UserID]
	if !ok {
		return errs.NotFound("organization")
	}
	if !m.Role.Can(c) {
		return errs.Forbidden(fmt.Sprintf("this needs the %s role or higher; you are %s", MinRole(c), m.Role))
	}
	return nil
}
