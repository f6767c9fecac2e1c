package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trailspark/trailspark/actors"
	"github.com/trailspark/trailspark/engine/credential"
	"github.com/trailspark/trailspark/engine/errs"
)

// list is the paged list envelope.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// page cuts items by ?limit= and ?cursor=. Cursors are opaque offsets into
// the list's stable order; good enough for the small, slowly changing lists
// of the management API.
func page[T any](c *gin.Context, items []T) (list[T], error) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return list[T]{}, errs.Invalid("limit", "out_of_range", "limit must be an integer from 1 to 200")
		}
		limit = n
	}
	start := 0
	if cur := c.Query("cursor"); cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "o:"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "o:") || n < 0 {
			return list[T]{}, errs.Invalid("cursor", "invalid_format", "cursor is not one this API returned")
		}
		start = n
	}
	if start > len(items) {
		start = len(items)
	}
	end := start + limit
	out := list[T]{Items: items[start:min(end, len(items))]}
	if out.Items == nil {
		out.Items = []T{}
	}
	if end < len(items) {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(end)))
	}
	return out, nil
}

func respondList[T any](c *gin.Context, items []T, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	l, err := page(c, items)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

func respond(c *gin.Context, status int, v any, err error) {
	if err != nil {
		fail(c, err)
		return
	}
	if v == nil {
		c.Status(status)
		return
	}
	c.JSON(status, v)
}

// parseTime reads an optional RFC 3339 timestamp field.
func parseTime(field string, s *string) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *s)
	if err != nil {
		return nil, errs.Invalid(field, "invalid_format", "%s must be an RFC 3339 timestamp such as 2030-01-02T15:04:05Z", field)
	}
	t = t.UTC()
	return &t, nil
}

// --- auth and users

type registerReq struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

func (s *Server) register(c *gin.Context) {
	var req registerReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	u, err := s.client.Users().Register(c.Request.Context(), actors.RegisterInput(req))
	respond(c, http.StatusCreated, u, err)
}

type loginReq struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Server) login(c *gin.Context) {
	var req loginReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if req.Email == "" {
		fail(c, errs.Invalid("email", "required", "email is required"))
		return
	}
	if req.Password == "" {
		fail(c, errs.Invalid("password", "required", "password is required"))
		return
	}
	res, err := s.client.Users().Login(c.Request.Context(), req.Email, req.Password)
	respond(c, http.StatusOK, res, err)
}

func (s *Server) logout(c *gin.Context) {
	if caller(c).Operator {
		fail(c, errs.Invalid("", "not_a_session", "the operator token cannot be logged out; change TRAILSPARK_ADMIN_TOKEN"))
		return
	}
	respond(c, http.StatusNoContent, nil, s.client.Users().Logout(c.Request.Context(), bearer(c)))
}

func (s *Server) me(c *gin.Context) {
	v, err := s.client.Me(c.Request.Context(), caller(c))
	respond(c, http.StatusOK, v, err)
}

type createPATReq struct {
	Name      string  `json:"name"`
	ExpiresAt *string `json:"expires_at"`
}

func userOnly(c *gin.Context) bool {
	if caller(c).Operator {
		fail(c, errs.Invalid("", "user_required", "personal access tokens belong to users; the operator already has its token"))
		return false
	}
	return true
}

func (s *Server) createPAT(c *gin.Context) {
	if !userOnly(c) {
		return
	}
	var req createPATReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	exp, err := parseTime("expires_at", req.ExpiresAt)
	if err != nil {
		fail(c, err)
		return
	}
	res, err := s.client.Users().CreatePAT(c.Request.Context(), caller(c).UserID, actors.CreatePATInput{Name: req.Name, ExpiresAt: exp})
	respond(c, http.StatusCreated, res, err)
}

func (s *Server) listPATs(c *gin.Context) {
	if !userOnly(c) {
		return
	}
	items, err := s.client.Users().ListPATs(c.Request.Context(), caller(c).UserID)
	respondList(c, items, err)
}

func (s *Server) revokePAT(c *gin.Context) {
	if !userOnly(c) {
		return
	}
	respond(c, http.StatusNoContent, nil, s.client.Users().RevokePAT(c.Request.Context(), caller(c).UserID, c.Param("id")))
}

// --- organizations

func (s *Server) subdomainCheck(c *gin.Context) {
	v, err := s.client.CheckSubdomain(c.Request.Context(), c.Query("subdomain"), c.Query("name"))
	respond(c, http.StatusOK, v, err)
}

type createOrgReq struct {
	Name       string `json:"name"`
	Subdomain  string `json:"subdomain"`
	Size       string `json:"size"`
	Industry   string `json:"industry"`
	Plan       string `json:"plan"`
	OwnerEmail string `json:"owner_email"`
	// StarterRules false creates the organization without the starter
	// mapping rules (for orgs provisioned with their own rules).
	StarterRules *bool `json:"starter_rules"`
}

func (s *Server) createOrg(c *gin.Context) {
	var req createOrgReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.CreateOrg(c.Request.Context(), caller(c), actors.CreateOrgInput(req))
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) listOrgs(c *gin.Context) {
	items, err := s.client.ListOrgs(c.Request.Context(), caller(c))
	respondList(c, items, err)
}

func (s *Server) getOrg(c *gin.Context) {
	v, err := s.client.GetOrg(c.Request.Context(), caller(c), c.Param("org"))
	respond(c, http.StatusOK, v, err)
}

type updateOrgReq struct {
	Name     *string `json:"name"`
	Size     *string `json:"size"`
	Industry *string `json:"industry"`
}

func (s *Server) updateOrg(c *gin.Context) {
	var req updateOrgReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.UpdateOrg(c.Request.Context(), caller(c), c.Param("org"), actors.UpdateOrgInput(req))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) deleteOrg(c *gin.Context) {
	respond(c, http.StatusNoContent, nil, s.client.DeleteOrg(c.Request.Context(), caller(c), c.Param("org")))
}

// --- members

func (s *Server) listMembers(c *gin.Context) {
	items, err := s.client.Members(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, items, err)
}

type roleReq struct {
	Role string `json:"role"`
}

func (s *Server) setRole(c *gin.Context) {
	var req roleReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.SetRole(c.Request.Context(), caller(c), c.Param("org"), c.Param("user"), req.Role)
	respond(c, http.StatusOK, v, err)
}

func (s *Server) removeMember(c *gin.Context) {
	respond(c, http.StatusNoContent, nil, s.client.RemoveMember(c.Request.Context(), caller(c), c.Param("org"), c.Param("user")))
}

type transferReq struct {
	UserID string `json:"user_id"`
}

func (s *Server) transferOwnership(c *gin.Context) {
	var req transferReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.TransferOwnership(c.Request.Context(), caller(c), c.Param("org"), req.UserID)
	respond(c, http.StatusOK, v, err)
}

// --- invitations

type inviteReq struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

func (s *Server) invite(c *gin.Context) {
	var req inviteReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.Invite(c.Request.Context(), caller(c), c.Param("org"), actors.InviteInput(req))
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) listInvitations(c *gin.Context) {
	items, err := s.client.Invitations(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, items, err)
}

func (s *Server) resendInvitation(c *gin.Context) {
	v, err := s.client.ResendInvitation(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) cancelInvitation(c *gin.Context) {
	v, err := s.client.CancelInvitation(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

type acceptReq struct {
	Token string `json:"token"`
}

func (s *Server) acceptInvitation(c *gin.Context) {
	var req acceptReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.AcceptInvitation(c.Request.Context(), caller(c), c.Param("org"), req.Token)
	respond(c, http.StatusOK, v, err)
}

// --- API keys

type createKeyReq struct {
	Name            string         `json:"name"`
	Type            string         `json:"type"`
	ExpiresAt       *string        `json:"expires_at"`
	WithSecret      bool           `json:"with_secret"`
	PayloadTemplate map[string]any `json:"payload_template"`
}

func (s *Server) createKey(c *gin.Context) {
	var req createKeyReq
	if err := bindJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	exp, err := parseTime("expires_at", req.ExpiresAt)
	if err != nil {
		fail(c, err)
		return
	}
	v, err := s.client.CreateKey(c.Request.Context(), caller(c), c.Param("org"), actors.CreateKeyInput{
		Name: req.Name, Type: req.Type, ExpiresAt: exp, WithSecret: req.WithSecret, PayloadTemplate: req.PayloadTemplate})
	respond(c, http.StatusCreated, v, err)
}

func (s *Server) listKeys(c *gin.Context) {
	items, err := s.client.ListKeys(c.Request.Context(), caller(c), c.Param("org"))
	respondList(c, items, err)
}

func (s *Server) getKey(c *gin.Context) {
	v, err := s.client.GetKey(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) revokeKey(c *gin.Context) {
	v, err := s.client.RevokeKey(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusOK, v, err)
}

func (s *Server) rotateKey(c *gin.Context) {
	v, err := s.client.RotateKey(c.Request.Context(), caller(c), c.Param("org"), c.Param("id"))
	respond(c, http.StatusCreated, v, err)
}

// keySelf authenticates an API key exactly as ingestion will (key, then its
// secret or signature) and says what it is.
func (s *Server) keySelf(c *gin.Context) {
	id, err := s.authenticateKey(c, bearer(c), nil)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"org_id": id.OrgID, "key_id": id.KeyID, "type": id.Type, "name": id.Name})
}

// authenticateKey verifies an sk_ key and, when it has a secret, the
// X-Api-Secret header or the X-TrailSpark-Signature over body.
func (s *Server) authenticateKey(c *gin.Context, key string, body []byte) (*actors.KeyIdentity, error) {
	if key == "" {
		return nil, errs.Unauthenticated("missing_credential", "send the API key in the path or as Authorization: Bearer sk_...")
	}
	id, err := s.client.VerifyKey(c.Request.Context(), key)
	if err != nil {
		return nil, err
	}
	secret := id.Secret()
	if secret == "" {
		return id, nil
	}
	if sig := c.GetHeader("X-TrailSpark-Signature"); sig != "" {
		if err := credential.VerifySignature(secret, sig, body, s.now(), credential.DefaultSignatureTolerance); err != nil {
			return nil, err
		}
		return id, nil
	}
	got := c.GetHeader("X-Api-Secret")
	if got == "" {
		return nil, errs.Unauthenticated("secret_required", "this key needs X-Api-Secret or X-TrailSpark-Signature")
	}
	if !credential.SecretEqual(got, secret) {
		return nil, errs.Unauthenticated("secret_invalid", "X-Api-Secret does not match this key's secret")
	}
	return id, nil
}
